"""The content manifest: what a terminal must hold and play, signed by the controller (pure).

A `Manifest` lists every file (sha256, size, media type, pixel size, duration) and carries the
playlist. `SignedManifest` carries it as JSON text (`payload`, written canonically: sorted
keys, compact) with an Ed25519 signature over exactly those bytes. Signing and verifying live
in `content.signing`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

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
    """A manifest as signed: `payload` is the manifest's JSON text, the signature covers its
    UTF-8 bytes exactly (no re-serialisation on the terminal: one signature check over bytes,
    then one parse). Build with `content.signing.sign_manifest`; read `.manifest` only after
    `verify_manifest` accepted the signature."""

    v: Literal[1] = 1
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]  # first 16 hex of sha256(public key)
    signature: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{86}==$")]  # base64 of 64 bytes
    payload: Annotated[str, Field(min_length=2, max_length=64 * 1024 * 1024)]
    _parsed: Manifest | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _from_manifest(cls, data: Any) -> Any:
        """Accept `manifest=<Manifest>` in place of the payload (it is serialised canonically)."""
        if isinstance(data, dict) and "manifest" in data and "payload" not in data:
            data = dict(data)
            manifest = data.pop("manifest")
            if isinstance(manifest, Manifest):
                data["payload"] = canonical_bytes(manifest).decode()
        return data

    @property
    def manifest(self) -> Manifest:
        """The parsed payload (parsed once; raises pydantic's ValidationError if malformed)."""
        if self._parsed is None:
            self._parsed = Manifest.model_validate_json(self.payload)
        return self._parsed

    def signed_bytes(self) -> bytes:
        return self.payload.encode()

    def __eq__(self, other: object) -> bool:  # the parse cache is not part of the value
        if not isinstance(other, SignedManifest):
            return NotImplemented
        return (self.key_id, self.signature, self.payload) == (
            other.key_id, other.signature, other.payload)

    def __hash__(self) -> int:
        return hash((self.key_id, self.signature, self.payload))
