"""The content manifest: what a terminal must hold and play, signed by the controller (pure).

A `Manifest` lists every file (sha256, size, media type, pixel size, duration) and carries the
playlist. `SignedManifest` wraps it with an Ed25519 signature over `canonical_bytes(manifest)`
(sorted-key compact JSON of the model), so the signature survives re-serialisation. Signing and
verifying live in `content.signing`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from content.playlist import Playlist, Sha256

MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "video/mp4", "video/webm")
MediaType = Literal["image/png", "image/jpeg", "image/webp", "video/mp4", "video/webm"]
MAX_FILE_BYTES = 2 * 1024**3
# A file name in a package: no directories, no dot-files, nothing a path could misread.
FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Frozen):
    name: FileName
    sha256: Sha256
    size: Annotated[int, Field(ge=1, le=MAX_FILE_BYTES)]
    media_type: MediaType
    width: Annotated[int, Field(ge=1, le=16384)]
    height: Annotated[int, Field(ge=1, le=16384)]
    duration_ms: Annotated[int, Field(ge=1)] | None = None  # videos only

    @model_validator(mode="after")
    def _duration_for_video(self) -> FileEntry:
        is_video = self.media_type.startswith("video/")
        if is_video != (self.duration_ms is not None):
            raise ValueError("duration_ms is required for videos and not allowed for images")
        return self


class Manifest(_Frozen):
    v: Literal[1] = 1
    package_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
    created_ms: Annotated[int, Field(ge=0)]
    files: list[FileEntry]
    playlist: Playlist | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("duplicate file name")
        if self.playlist is not None:
            missing = self.playlist.creatives() - {f.sha256 for f in self.files}
            if missing:
                raise ValueError(f"playlist plays files not in the manifest: {sorted(missing)[:3]}")
        return self

    def by_sha256(self) -> dict[str, FileEntry]:
        return {f.sha256: f for f in self.files}


def canonical_bytes(manifest: Manifest) -> bytes:
    """The exact bytes that are signed: compact JSON, keys sorted."""
    return orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


class SignedManifest(_Frozen):
    v: Literal[1] = 1
    manifest: Manifest
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]  # first 16 hex of sha256(public key)
    signature: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{86}==$")]  # base64 of 64 bytes
