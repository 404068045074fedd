"""The terminal's content library on disk: verified files and the active manifest.

Layout under `root`:

- `files/<sha256>`: complete files whose bytes matched their sha256 (nothing else gets there:
  a download is renamed in only after its hash matched and the data was fsynced);
- `partial/<sha256>.part`: downloads in progress, resumed after a drop or a reboot;
- `active.json`: the exact SignedManifest bytes that play now, `previous.json` the ones before;
- `pending.json`: the verified manifest being fetched (so a retry can ask with If-None-Match).

Manifests are replaced atomically (temp file, fsync, rename, fsync of the directory), so a power
cut leaves either the old or the new playlist. `active.json` is re-verified on every load; when
it is unreadable or its signature fails, the library falls back to `previous.json` (if all of its
files are still here) and never raises. Last use of a file is its mtime (set on activation and
by `touch` when played): no index to corrupt, and a file listing is all eviction needs.

Methods are synchronous (local file I/O); async callers run the heavy ones (hashing, fsync)
with `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from content.atomic import atomic_write as _atomic_write
from content.atomic import fsync_dir
from content.manifest import FileEntry, Manifest, SignedManifest
from content.signing import SignatureError, verify_manifest
from kiosk.player.errors import DiskFullError, HashMismatchError, MissingFilesError
from kiosk.player.plan import StoredFile, choose_evictions, missing_files

log = logging.getLogger(__name__)

TrustedKeys = Ed25519PublicKey | Mapping[str, Ed25519PublicKey]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_CHUNK = 1024 * 1024


def _check_sha(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return sha256


def _disk_full(exc: OSError, what: str) -> DiskFullError:
    return DiskFullError(f"disk full while writing {what}: {exc.strerror}")


def atomic_write(path: Path, data: bytes) -> None:
    """`content.atomic.atomic_write`, with a full disk reported as DiskFullError."""
    try:
        _atomic_write(path, data)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise _disk_full(exc, path.name) from exc
        raise


@dataclass(frozen=True, slots=True)
class LoadedManifest:
    """A manifest read back from disk, its signature verified."""

    signed: SignedManifest
    raw: bytes
    sha256: str  # of `raw`: the name the controller's pointer uses
    source: Literal["active", "previous"]

    @property
    def manifest(self) -> Manifest:
        return self.signed.manifest


class PartialWriter:
    """Appends to `partial/<sha256>.part`; a full disk becomes DiskFullError."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        self._file = os.fdopen(fd, "r+b")
        self._file.truncate(offset)
        self._file.seek(offset)

    def write(self, chunk: bytes) -> None:
        try:
            self._file.write(chunk)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise _disk_full(exc, self.path.name) from exc
            raise

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise _disk_full(exc, self.path.name) from exc
            raise


class ContentLibrary:
    def __init__(self, root: Path, quota_bytes: int, *, trusted_keys: TrustedKeys) -> None:
        if quota_bytes < 0:
            raise ValueError("quota_bytes must be >= 0")
        self.root = Path(root)
        self.quota_bytes = quota_bytes
        self.trusted_keys = trusted_keys
        self._verified: dict[Path, tuple[tuple[int, int, int], LoadedManifest]] = {}
        self.files_dir = self.root / "files"
        self.partial_dir = self.root / "partial"
        self.active_path = self.root / "active.json"
        self.previous_path = self.root / "previous.json"
        self.pending_path = self.root / "pending.json"
        for d in (self.root, self.files_dir, self.partial_dir):
            d.mkdir(parents=True, exist_ok=True)
        for stale in (*self.root.glob(".*.tmp"), *self.files_dir.glob(".*.tmp")):
            stale.unlink(missing_ok=True)  # a write cut short by a power loss

    # -- files -----------------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        return self.files_dir / _check_sha(sha256)

    def partial_path(self, sha256: str) -> Path:
        return self.partial_dir / f"{_check_sha(sha256)}.part"

    def has(self, sha256: str, size: int | None = None) -> bool:
        """True when the verified file is here (and, if given, has `size` bytes)."""
        try:
            st = self.path(sha256).stat()
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def missing(self, manifest: Manifest) -> list[FileEntry]:
        return missing_files(manifest, self.has)

    def touch(self, sha256: str, at: float | None = None) -> None:
        """Mark a file as used now (or at `at`, epoch seconds): eviction takes the oldest first."""
        t = time.time() if at is None else at
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path(sha256), (t, t))

    def stored(self) -> list[StoredFile]:
        out: list[StoredFile] = []
        for entry in os.scandir(self.files_dir):
            if _SHA256.match(entry.name):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                out.append(StoredFile(entry.name, st.st_size, st.st_mtime))
        return out

    def partial_size(self, sha256: str) -> int:
        try:
            return self.partial_path(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    def partials(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in os.scandir(self.partial_dir):
            sha = entry.name.removesuffix(".part")
            if entry.name.endswith(".part") and _SHA256.match(sha):
                try:
                    out[sha] = entry.stat().st_size
                except FileNotFoundError:
                    continue
        return out

    def used_bytes(self) -> int:
        return sum(f.size for f in self.stored()) + sum(self.partials().values())

    # -- partial downloads -----------------------------------------------------------------

    def open_partial(self, sha256: str, offset: int) -> PartialWriter:
        """Open the partial file for writing from `offset` (0 starts over)."""
        return PartialWriter(self.partial_path(sha256), offset)

    def hash_partial(self, sha256: str) -> tuple[int, hashlib._Hash]:
        """(size, sha256 state) of the partial file, for resuming (0 and empty if none)."""
        h = hashlib.sha256()
        size = 0
        try:
            with open(self.partial_path(sha256), "rb") as f:
                while chunk := f.read(_READ_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            pass
        return size, h

    def discard_partial(self, sha256: str) -> None:
        self.partial_path(sha256).unlink(missing_ok=True)

    def commit_partial(self, sha256: str, digest: str) -> Path:
        """Move a downloaded partial into `files/`; `digest` is the sha256 the caller computed
        over the bytes it wrote, and must equal `sha256` (else HashMismatchError)."""
        if digest != sha256:
            self.discard_partial(sha256)
            raise HashMismatchError(f"{sha256}: received bytes hash to {digest}")
        src, dst = self.partial_path(sha256), self.path(sha256)
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)  # data on disk before the name says "verified"
        finally:
            os.close(fd)
        os.replace(src, dst)
        fsync_dir(self.files_dir)
        self.touch(sha256)
        return dst

    def verify_file(self, entry: FileEntry) -> bool:
        """Re-hash a stored file (deep check); a file that no longer matches is removed."""
        path = self.path(entry.sha256)
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_READ_CHUNK):
                    h.update(chunk)
            ok = path.stat().st_size == entry.size and h.hexdigest() == entry.sha256
        except FileNotFoundError:
            return False
        if not ok:
            log.warning("content file %s is corrupt on disk: removed", entry.sha256)
            path.unlink(missing_ok=True)
        return ok

    # -- manifests -------------------------------------------------------------------------

    def _load(self, path: Path, source: Literal["active", "previous"]) -> LoadedManifest | None:
        """Read and verify a manifest file; a file unchanged since the last verified read
        (same inode, size and mtime) is not parsed and verified again."""
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
                cached = self._verified.get(path)
                if cached is not None and cached[0] == stamp:
                    hit = cached[1]
                    return LoadedManifest(hit.signed, hit.raw, hit.sha256, source)
                raw = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("content: cannot read %s: %s", path.name, exc)
            return None
        try:
            signed = SignedManifest.model_validate_json(raw)
            verify_manifest(signed, self.trusted_keys)
        except (ValidationError, SignatureError, ValueError) as exc:
            log.warning("content: %s is not a valid signed manifest: %s", path.name,
                        str(exc).splitlines()[0])
            return None
        loaded = LoadedManifest(signed, raw, hashlib.sha256(raw).hexdigest(), source)
        self._verified[path] = (stamp, loaded)
        return loaded

    def _remember(self, path: Path, signed: SignedManifest, raw: bytes, sha: str) -> None:
        """Cache what was just written (and verified), so the next read needs no re-parse."""
        try:
            st = path.stat()
        except OSError:
            return
        self._verified[path] = ((st.st_ino, st.st_size, st.st_mtime_ns),
                                LoadedManifest(signed, raw, sha, "active"))

    def current(self) -> LoadedManifest | None:
        """The manifest to play: active.json, else previous.json if complete, else None."""
        loaded = self._load(self.active_path, "active")
        if loaded is not None:
            return loaded
        previous = self._load(self.previous_path, "previous")
        if previous is not None and not self.missing(previous.manifest):
            if self.active_path.exists():
                log.warning("content: falling back to the previous manifest %s",
                            previous.manifest.package_id)
            return previous
        return None

    def active(self) -> SignedManifest | None:
        loaded = self.current()
        return loaded.signed if loaded is not None else None

    def active_sha256(self) -> str | None:
        loaded = self.current()
        return loaded.sha256 if loaded is not None else None

    def activate(self, signed: SignedManifest, raw: bytes | None = None) -> str:
        """Make `signed` the active manifest; returns the sha256 of the bytes written.

        Refused (SignatureError, MissingFilesError) unless the signature verifies and every file
        is here; `raw` are the exact bytes fetched (kept so their hash names the manifest).
        The manifest playing so far becomes previous.json.
        """
        verify_manifest(signed, self.trusted_keys)
        if raw is None:
            raw = signed.model_dump_json().encode()
        elif SignedManifest.model_validate_json(raw) != signed:
            raise ValueError("raw bytes are not this manifest")
        missing = self.missing(signed.manifest)
        if missing:
            raise MissingFilesError(f"{len(missing)} file(s) missing, e.g. {missing[0].name}")
        sha = hashlib.sha256(raw).hexdigest()
        current = self.current()
        if current is None or current.sha256 != sha:
            if current is not None and current.source == "active":
                # A rename, not a copy: a crash before the write below leaves no active.json,
                # and `current()` then plays previous.json, which is exactly the old playlist.
                os.replace(self.active_path, self.previous_path)
                self._remember(self.previous_path, current.signed, current.raw, current.sha256)
            atomic_write(self.active_path, raw)
        elif current.source == "previous":
            atomic_write(self.active_path, raw)  # repair a damaged active.json
        self._remember(self.active_path, signed, raw, sha)
        now = time.time()
        for sha256 in signed.manifest.by_sha256():
            self.touch(sha256, now)
        self.clear_pending(sha)
        return sha

    def save_pending(self, raw: bytes) -> None:
        atomic_write(self.pending_path, raw)

    def pending_bytes(self, sha256: str) -> bytes | None:
        """The pending manifest's bytes if they hash to `sha256`."""
        try:
            raw = self.pending_path.read_bytes()
        except OSError:
            return None
        return raw if hashlib.sha256(raw).hexdigest() == sha256 else None

    def clear_pending(self, sha256: str | None = None) -> None:
        if sha256 is None or self.pending_bytes(sha256) is not None:
            self.pending_path.unlink(missing_ok=True)

    # -- space -----------------------------------------------------------------------------

    def evict(self, keep: set[str] | frozenset[str] = frozenset(), *,
              incoming_bytes: int = 0) -> list[str]:
        """Free space so that the library (plus `incoming_bytes` still to be written) fits in
        the quota; returns the sha256s removed.

        Never removes the active manifest's files nor those in `keep`; removes partial downloads
        not in `keep`, then other files oldest-used first, the previous manifest's files last.
        Raises DiskFullError (removing nothing) when that cannot be enough.
        """
        current = self.current()
        protected = set(current.manifest.by_sha256()) if current is not None else set()
        previous = self._load(self.previous_path, "previous")
        last_resort = set(previous.manifest.by_sha256()) if previous is not None else set()
        partials = self.partials()
        kept_partials = {sha: n for sha, n in partials.items() if sha in keep}
        stored = self.stored()
        victims = choose_evictions(
            stored, quota_bytes=self.quota_bytes, protected=protected, keep=keep,
            last_resort=last_resort, other_bytes=sum(kept_partials.values()),
            incoming_bytes=incoming_bytes)
        for sha in partials.keys() - kept_partials.keys():
            self.discard_partial(sha)
        for sha in victims:
            self.path(sha).unlink(missing_ok=True)
        if victims:
            log.info("content: evicted %d file(s) to stay within %d bytes", len(victims),
                     self.quota_bytes)
        return victims

    def make_room(self, manifest: Manifest) -> list[str]:
        """Evict what is needed before fetching `manifest`'s missing files (DiskFullError if the
        quota, or the disk itself, cannot hold them next to the active manifest)."""
        missing = self.missing(manifest)
        incoming = sum(e.size - min(self.partial_size(e.sha256), e.size) for e in missing)
        victims = self.evict(set(manifest.by_sha256()), incoming_bytes=incoming)
        free = shutil.disk_usage(self.root).free
        if incoming > free:
            raise DiskFullError(f"content needs {incoming} more bytes but the disk has {free}",
                                needed_bytes=incoming)
        return victims
