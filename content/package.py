"""Content packages on disk: a flat directory of creatives plus the signed `manifest.json`.

The controller builds a package (`build_manifest` probes and hashes every file, `write_signed`
writes the signed manifest atomically, `build_package` does both and signs); a terminal, or a
technician with `kiosk-content verify`, checks one with `verify_directory`: the signature
first, then every listed file's presence, size and sha256. Anything wrong is a `PackageError`
(a ValueError) naming the first bad file and why.

Only this module's `build_*` functions need Pillow and OpenCV (through `content.probe`);
verifying needs neither, so terminals can use it as it is.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import TypeAdapter, ValidationError

from content.atomic import atomic_write
from content.hashing import Progress, hash_file
from content.manifest import FileName, Manifest, SignedManifest
from content.playlist import Playlist
from content.probe import DEFAULT_LIMITS, CreativeError, Limits, probe
from content.signing import SignatureError, sign_manifest, verify_manifest

MANIFEST_NAME = "manifest.json"
_TMP_NAME = MANIFEST_NAME + ".tmp"  # left behind only by a crash inside write_signed
_OWN_FILES = frozenset({MANIFEST_NAME, _TMP_NAME})
# (file being hashed, bytes done over the whole package, bytes in the whole package)
PackageProgress = Callable[[str, int, int], None]
_FILE_NAME: TypeAdapter[str] = TypeAdapter(FileName)


class PackageError(ValueError):
    """A package that cannot be built or trusted; `name` is the file at fault, if one is."""

    def __init__(self, why: str, name: str | None = None) -> None:
        super().__init__(f"{name}: {why}" if name else why)
        self.why = why
        self.name = name

    def __reduce__(self) -> tuple[type[PackageError], tuple[str, str | None]]:
        return type(self), (self.why, self.name)


class UnexpectedEntry(PackageError):
    """A subdirectory, symlink, hidden file, special file or unusable name in the package."""


class BadCreative(PackageError):
    """A file the creative probe refuses; `reason` is the probe's reason."""

    def __init__(self, why: str, name: str | None = None, reason: str = "") -> None:
        super().__init__(why, name)
        self.reason = reason

    def __reduce__(self) -> tuple[type[BadCreative], tuple[str, str | None, str]]:  # type: ignore[override]
        return type(self), (self.why, self.name, self.reason)


class BadManifest(PackageError):
    """manifest.json is missing, not a regular file, or not a valid signed manifest."""


class BadSignature(PackageError, SignatureError):
    """The manifest's signature does not verify under any trusted key."""


class MissingFile(PackageError):
    """A file the manifest lists is not in the directory."""


class SizeMismatch(PackageError):
    """A listed file has a different size than the manifest says."""


class HashMismatch(PackageError):
    """A listed file's sha256 differs from the manifest's."""


class ExtraFile(PackageError):
    """A file in the directory that the manifest does not list."""


# -- building ----------------------------------------------------------------------------------


def package_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The creatives of a package directory, sorted by name; UnexpectedEntry for anything else.

    `manifest.json` (and a temporary file a crashed write left) are not creatives and are skipped.
    """
    root = Path(directory)
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    files: list[Path] = []
    for entry in entries:
        name = entry.name
        if name in _OWN_FILES:
            continue
        if name.startswith("."):
            raise UnexpectedEntry("hidden file; a package holds only creatives (remove it)", name)
        if entry.is_symlink():
            raise UnexpectedEntry("is a symbolic link; copy the file itself into the package",
                                  name)
        if entry.is_dir(follow_symlinks=False):
            raise UnexpectedEntry("is a directory; a package is one flat directory of files",
                                  name)
        if not entry.is_file(follow_symlinks=False):
            raise UnexpectedEntry("is not a regular file", name)
        try:
            _FILE_NAME.validate_python(name)
        except ValidationError:
            raise UnexpectedEntry("file name not allowed: use letters, digits, '.', '_' and '-' "
                                  "(at most 128, starting with a letter or digit)", name) from None
        files.append(root / name)
    return files


def _package_progress(progress: PackageProgress | None, name: str, before: int,
                      total: int) -> Progress | None:
    if progress is None:
        return None
    return lambda done: progress(name, before + done, total)


def build_manifest(
    directory: str | os.PathLike[str],
    package_id: str,
    *,
    progress: PackageProgress | None = None,
    limits: Limits = DEFAULT_LIMITS,
    created_ms: int | None = None,
    playlist: Playlist | None = None,
) -> Manifest:
    """Probe and hash every creative of a flat directory into an (unsigned) manifest.

    Files are listed sorted by name. Raises UnexpectedEntry for subdirectories, symlinks, hidden
    files or bad names, BadCreative for a file the probe refuses, PackageError for a bad package
    id, an empty directory, or a playlist that plays files not in the package.
    """
    try:
        Manifest(package_id=package_id, created_ms=0, files=[])
    except ValidationError:
        raise PackageError(f"invalid package id {package_id!r}: use 1-128 letters, digits, "
                           "'.', '_' or '-'") from None
    files = package_files(directory)
    if not files:
        raise PackageError(f"no creatives to package in {directory}")
    total = sum(path.stat().st_size for path in files)
    done = 0
    entries = []
    for path in files:
        try:
            probed = probe(path, limits=limits,
                           progress=_package_progress(progress, path.name, done, total))
        except CreativeError as exc:
            raise BadCreative(f"{exc} ({exc.reason})", path.name, exc.reason) from exc
        entries.append(probed.to_entry(path.name))
        done += probed.size
    try:
        return Manifest(package_id=package_id, files=entries, playlist=playlist,
                        created_ms=int(time.time() * 1000) if created_ms is None else created_ms)
    except ValidationError as exc:
        raise PackageError(f"cannot build the manifest: {_first_error(exc)}") from None


def write_signed(directory: str | os.PathLike[str], signed: SignedManifest) -> Path:
    """Write `manifest.json` atomically: a temporary file, fsync, rename, fsync the directory."""
    root = Path(directory)
    data = orjson.dumps(signed.model_dump(mode="json"),
                        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    final = root / MANIFEST_NAME
    atomic_write(final, data, tmp=root / _TMP_NAME)
    return final


def build_package(
    directory: str | os.PathLike[str],
    package_id: str,
    private_key: Ed25519PrivateKey,
    *,
    progress: PackageProgress | None = None,
    limits: Limits = DEFAULT_LIMITS,
    created_ms: int | None = None,
    playlist: Playlist | None = None,
) -> SignedManifest:
    """Build, sign and write the manifest of a package directory; return what was written."""
    manifest = build_manifest(directory, package_id, progress=progress, limits=limits,
                              created_ms=created_ms, playlist=playlist)
    signed = sign_manifest(manifest, private_key)
    write_signed(directory, signed)
    return signed


# -- verifying ---------------------------------------------------------------------------------


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def read_signed(directory: str | os.PathLike[str]) -> SignedManifest:
    """The signed manifest of a package directory, parsed but not yet verified."""
    path = Path(directory) / MANIFEST_NAME
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise BadManifest("missing: this directory is not a signed package", MANIFEST_NAME
                          ) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadManifest("is not a regular file", MANIFEST_NAME)
    try:
        return SignedManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BadManifest(f"not a valid signed manifest: {_first_error(exc)}", MANIFEST_NAME
                          ) from None


def verify_directory(
    directory: str | os.PathLike[str],
    trusted_keys: Ed25519PublicKey | Mapping[str, Ed25519PublicKey],
    *,
    progress: PackageProgress | None = None,
    allow_extra: bool = False,
) -> Manifest:
    """Return the manifest of a package whose signature and every file check out.

    Order: the signature (BadSignature, also a SignatureError), then each listed file's presence
    and size (MissingFile, UnexpectedEntry, SizeMismatch), then files the manifest does not list
    (ExtraFile, unless `allow_extra`), then each file's sha256 (HashMismatch). The cheap checks
    come before any hashing, so a broken package fails fast.
    """
    root = Path(directory)
    signed = read_signed(root)
    try:
        manifest = verify_manifest(signed, trusted_keys)
    except SignatureError as exc:
        raise BadSignature(str(exc), MANIFEST_NAME) from None

    for entry in manifest.files:
        try:
            st = os.lstat(root / entry.name)
        except FileNotFoundError:
            raise MissingFile("listed in the manifest but missing", entry.name) from None
        if not stat.S_ISREG(st.st_mode):
            raise UnexpectedEntry("is not a regular file (a symlink or a directory)", entry.name)
        if st.st_size != entry.size:
            raise SizeMismatch(f"has {st.st_size} bytes, the manifest says {entry.size}",
                               entry.name)
    listed = {entry.name for entry in manifest.files}
    extras = sorted(set(os.listdir(root)) - listed - _OWN_FILES)
    if extras and not allow_extra:
        more = f" (and {len(extras) - 1} more)" if len(extras) > 1 else ""
        raise ExtraFile(f"is not listed in the manifest{more}", extras[0])

    total = sum(entry.size for entry in manifest.files)
    done = 0
    for entry in manifest.files:
        digest, size = hash_file(root / entry.name,
                                 progress=_package_progress(progress, entry.name, done, total))
        if size != entry.size:
            raise SizeMismatch(f"changed while being verified ({size} bytes read)", entry.name)
        if digest != entry.sha256:
            raise HashMismatch(f"sha256 is {digest}, the manifest says {entry.sha256}",
                               entry.name)
        done += size
    return manifest
