"""Pure decisions of the content player (no I/O): the content pointer, what is missing, what to
evict.

The controller's retained `down/config` carries `playlist = {"manifest_url", "manifest_sha256"}`:
a pointer to the signed manifest, named by the sha256 of its exact JSON bytes. Files are served
content-addressed at `<scheme://host:port>/content/files/<sha256>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from content.manifest import FileEntry, Manifest
from content.playlist import Sha256
from kiosk.player.errors import DiskFullError

INLINE_MANIFEST_MAX = 256 * 1024


class ContentPointer(BaseModel):
    """Where the manifest to play is, and the sha256 of its bytes."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    manifest_url: Annotated[str, Field(max_length=2048)]
    manifest_sha256: Sha256
    # The signed manifest itself, when the controller sent it inline (small playlists): saves
    # the HTTP round trip; its bytes must still hash to manifest_sha256 and verify.
    manifest: Annotated[str, Field(max_length=INLINE_MANIFEST_MAX)] | None = Field(
        default=None, repr=False)

    @field_validator("manifest_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("manifest_url must be an absolute http(s) URL")
        return value

    @classmethod
    def parse(cls, value: ContentPointer | Mapping[str, Any]) -> ContentPointer:
        """Accept a pointer or the `playlist` object of a `down/config` (ValidationError if bad)."""
        return value if isinstance(value, ContentPointer) else cls.model_validate(value)

    @property
    def base_url(self) -> str:
        parts = urlsplit(self.manifest_url)
        return urlunsplit((parts.scheme, parts.netloc, "", "", ""))

    def file_url(self, sha256: str) -> str:
        return f"{self.base_url}/content/files/{sha256}"


def missing_files(manifest: Manifest, has: Callable[[str, int], bool]) -> list[FileEntry]:
    """The files of `manifest` the library lacks, one per sha256, in manifest order."""
    seen: set[str] = set()
    out: list[FileEntry] = []
    for entry in manifest.files:
        if entry.sha256 not in seen and not has(entry.sha256, entry.size):
            out.append(entry)
        seen.add(entry.sha256)
    return out


def manifest_bytes(manifest: Manifest) -> int:
    """Disk bytes the manifest's files take (a sha256 listed twice is stored once)."""
    return sum(entry.size for entry in manifest.by_sha256().values())


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    last_used: float  # epoch seconds


def choose_evictions(
    stored: Iterable[StoredFile],
    *,
    quota_bytes: int,
    protected: set[str] | frozenset[str] = frozenset(),
    keep: set[str] | frozenset[str] = frozenset(),
    last_resort: set[str] | frozenset[str] = frozenset(),
    other_bytes: int = 0,
    incoming_bytes: int = 0,
) -> list[str]:
    """The files to delete, oldest-used first, so that everything fits in `quota_bytes`.

    `protected` (the active manifest) and `keep` (the manifest being fetched) are never chosen;
    `last_resort` (the previous manifest, the fallback) only once nothing else is left.
    `other_bytes` is space already taken by other things (partial downloads being kept) and
    `incoming_bytes` what is still to be written. Raises DiskFullError when even evicting every
    candidate is not enough.
    """
    files = list(stored)
    used = sum(f.size for f in files) + other_bytes + incoming_bytes
    excess = used - quota_bytes
    if excess <= 0:
        return []
    candidates = sorted(
        (f for f in files if f.sha256 not in protected and f.sha256 not in keep),
        key=lambda f: (f.sha256 in last_resort, f.last_used, f.sha256),
    )
    chosen: list[str] = []
    freed = 0
    for f in candidates:
        if freed >= excess:
            break
        chosen.append(f.sha256)
        freed += f.size
    if freed < excess:
        needed = used - sum(f.size for f in candidates)
        raise DiskFullError(
            f"content needs {needed} bytes but the library quota is {quota_bytes} bytes "
            "(the active playlist's files are kept until the new one is complete)",
            needed_bytes=needed, quota_bytes=quota_bytes)
    return chosen
