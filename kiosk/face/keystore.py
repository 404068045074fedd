"""The terminal's key for face templates: 256 bits, made once, kept apart from the templates.

Where the key comes from, first match wins:
1. `key_file` from the terminal's config, or the file named by `KIOSK_FACE_KEY_FILE` — for
   devices whose secret is sealed by a TPM and unsealed at boot (e.g. systemd-creds puts it under
   /run/credentials). Never created here: a missing one is an error.
2. `KIOSK_FACE_KEY`: 64 hex characters, for service managers that pass secrets in the
   environment.
3. `<data_dir>/face.key`: 32 random bytes from `os.urandom`, created on first use with mode 0600
   (the same private-file rule as `kiosk.credentials`), atomically, so two processes starting at
   once end up with the same key.

Losing the key makes every stored template unreadable. That is by design: the templates are
worthless without this terminal's key (a copied database or disk is useless), and wiping the key
erases every template at once. Members then enrol again. So an unreadable, wrong-size or
world-readable key is an error with a clear message, never silently replaced by a new key —
replacing it would orphan every template the old one sealed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

KEY_BYTES = 32
KEY_FILE = "face.key"
ENV_KEY = "KIOSK_FACE_KEY"
ENV_KEY_FILE = "KIOSK_FACE_KEY_FILE"


class FaceKeyError(RuntimeError):
    """The face key cannot be used; the message says which source and why."""


@dataclass(frozen=True, slots=True)
class FaceKey:
    secret: bytes = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise FaceKeyError(f"face key from {self.source}: {len(self.secret)} bytes, "
                               f"need {KEY_BYTES}")

    @property
    def key_id(self) -> str:
        """A short public name for the key, stored next to each template: a row sealed under
        another key is then reported as such, not as tampering."""
        return hashlib.sha256(b"kiosk-face-key-id\0" + self.secret).hexdigest()[:16]


def _decode(raw: bytes, source: str) -> FaceKey:
    if len(raw) == KEY_BYTES:
        return FaceKey(raw, source)
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return FaceKey(bytes.fromhex(text.decode("ascii")), source)
        except (UnicodeDecodeError, ValueError):
            pass
    raise FaceKeyError(f"face key from {source}: {len(raw)} bytes; need {KEY_BYTES} raw bytes "
                       f"or {2 * KEY_BYTES} hex characters")


def load(path: Path) -> FaceKey:
    """Read a key file; refuse one that others may read."""
    try:
        st = path.stat()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise FaceKeyError(f"face key {path} is readable by others "
                               f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
        raw = path.read_bytes()
    except OSError as exc:
        raise FaceKeyError(f"cannot read face key {path}: {exc.strerror or exc}") from exc
    return _decode(raw, str(path))


def create(path: Path) -> FaceKey:
    """Make a new key at `path` unless one is there already (then load that one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process made the key first
            os.link(tmp, path)  # atomic: the key appears whole or not at all
    finally:
        tmp.unlink(missing_ok=True)
    return load(path)


def load_or_create(data_dir: Path, *, key_file: Path | None = None,
                   env: Mapping[str, str] | None = None) -> FaceKey:
    """The terminal's face key, from the first source that is configured (see the module)."""
    env = os.environ if env is None else env
    external = key_file or (Path(env[ENV_KEY_FILE]) if env.get(ENV_KEY_FILE) else None)
    if external is not None:
        if not external.exists():
            raise FaceKeyError(f"face key file {external} does not exist (configured, so not "
                               f"created here)")
        return load(external)
    if env.get(ENV_KEY):  # hex only: a 32-character password must not pass as 32 raw bytes
        try:
            return FaceKey(bytes.fromhex(env[ENV_KEY].strip()), f"${ENV_KEY}")
        except (ValueError, FaceKeyError):
            raise FaceKeyError(f"${ENV_KEY} must be {2 * KEY_BYTES} hex characters") from None
    path = data_dir / KEY_FILE
    return load(path) if path.exists() else create(path)
