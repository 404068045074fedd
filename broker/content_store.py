"""The controller's content directory: creative files by sha256 and signed manifests.

    <root>/files/<sha256>            creative bytes, served at /content/files/<sha256>
    <root>/manifests/<sha256>.json   SignedManifest JSON, named by the hash of its bytes

Everything is written to a temporary name, fsynced and renamed, so a crash never leaves a
half file under a served name; adding the same bytes twice is a no-op (content addressing).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from content.atomic import atomic_write
from content.manifest import SignedManifest

_SHA = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_CACHE = 256  # manifests kept in memory (each is one distinct playlist)


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files_dir = root / "files"
        self.manifests_dir = root / "manifests"
        for d in (self.files_dir, self.manifests_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._manifests: dict[str, bytes] = {}

    def file_path(self, sha256: str) -> Path | None:
        """The stored file for `sha256`, or None (also for anything that is not a sha256)."""
        if not _SHA.match(sha256):
            return None
        path = self.files_dir / sha256
        return path if path.is_file() else None

    def manifest_path(self, sha256: str) -> Path | None:
        if not _SHA.match(sha256):
            return None
        path = self.manifests_dir / f"{sha256}.json"
        return path if path.is_file() else None

    def manifest_bytes(self, sha256: str) -> bytes | None:
        """A manifest's bytes (small, immutable, fetched by many terminals at once: cached)."""
        cached = self._manifests.get(sha256)
        if cached is None:
            path = self.manifest_path(sha256)
            if path is None:
                return None
            cached = path.read_bytes()
            if len(self._manifests) >= MANIFEST_CACHE:
                self._manifests.pop(next(iter(self._manifests)))
            self._manifests[sha256] = cached
        return cached

    def add_file(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.files_dir / sha
        if not path.exists():
            atomic_write(path, data)
        return sha

    def add_manifest(self, signed: SignedManifest) -> str:
        """Store the manifest; return the sha256 of the exact bytes a terminal will fetch."""
        data = signed.model_dump_json().encode()
        sha = hashlib.sha256(data).hexdigest()
        path = self.manifests_dir / f"{sha}.json"
        if not path.exists():
            atomic_write(path, data)
        return sha

