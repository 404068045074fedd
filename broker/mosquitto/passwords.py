"""Mosquitto password files (pure, no I/O).

Mosquitto 2.0 stores one `username:hash` per line. `mosquitto_passwd` writes the PBKDF2 form

    $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512(password, salt, iterations, 64)>

with a 12-byte salt and 101 iterations (measured with mosquitto_passwd 2.0.11). The older
`$6$<base64 salt>$<base64 SHA512(password + salt)>` form (Mosquitto <= 1.6) is still accepted by
the broker and is verified here, but never written. The broker runs PBKDF2 on every CONNECT, so
the iteration count stays low: our passwords are random (`generate_password`), not memorable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_ITERATIONS = 101
SALT_BYTES = 12
_PBKDF2_BYTES = 64
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_HASH7_RE = re.compile(rf"^\$7\$([0-9]{{1,9}})\$({_B64})\$({_B64})$")
_HASH6_RE = re.compile(rf"^\$6\$({_B64})\$({_B64})$")
# ':' separates the fields; whitespace and control characters would be mangled by the file
# format; '+', '#' and '/' make Mosquitto's %u ACL patterns deny the user everything.
_BAD_USERNAME_RE = re.compile(r"[:+#/\s\x00-\x1f\x7f]")


class PasswordFormatError(ValueError):
    """A malformed password file, hash or username."""


@dataclass(frozen=True, slots=True)
class _Hash:
    scheme: str  # "6" or "7"
    iterations: int
    salt: bytes
    digest: bytes


def check_username(username: str) -> str:
    """Return `username` if it can live in a password file and match %u ACL patterns."""
    if not username:
        raise PasswordFormatError("empty username")
    if len(username.encode()) > 65535:
        raise PasswordFormatError("username longer than 65535 bytes")
    bad = _BAD_USERNAME_RE.search(username)
    if bad:
        raise PasswordFormatError(
            f"username {username[:40]!r} contains {bad.group()!r}: "
            "':', '+', '#', '/', whitespace and control characters are not allowed"
        )
    return username


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PasswordFormatError(f"bad base64 in {what}") from None


def _parse_hash(hashed: str) -> _Hash:
    if m := _HASH7_RE.match(hashed):
        iterations = int(m.group(1))
        if iterations < 1:
            raise PasswordFormatError("iterations must be at least 1")
        salt, digest = _b64decode(m.group(2), "salt"), _b64decode(m.group(3), "hash")
        return _Hash("7", iterations, salt, digest)
    if m := _HASH6_RE.match(hashed):
        salt, digest = _b64decode(m.group(1), "salt"), _b64decode(m.group(2), "hash")
        return _Hash("6", 1, salt, digest)
    raise PasswordFormatError(
        "not a Mosquitto password hash: expected '$7$<iterations>$<salt>$<hash>' "
        "or '$6$<salt>$<hash>'"
    )


def check_hash(hashed: str) -> str:
    """Return `hashed` if it is a well-formed `$7$` or `$6$` hash, else raise."""
    _parse_hash(hashed)
    return hashed


def hash_password(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """Hash `password` the way `mosquitto_passwd` (2.0, sha512-pbkdf2) does."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    if not salt:
        raise ValueError("salt must not be empty")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _PBKDF2_BYTES)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches `hashed` ($7$ or legacy $6$); raise on a malformed hash."""
    h = _parse_hash(hashed)
    if h.scheme == "7":
        candidate = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), h.salt, h.iterations, _PBKDF2_BYTES
        )
    else:
        candidate = hashlib.sha512(password.encode() + h.salt).digest()
    return hmac.compare_digest(candidate, h.digest)


def generate_password() -> str:
    """A random 32-character URL-safe password (192 bits)."""
    return secrets.token_urlsafe(24)


def render_password_file(users: Mapping[str, str]) -> str:
    """Render `{username: hash}` as a password file, sorted by username.

    No comments are written: `mosquitto_passwd` refuses files with comment lines.
    """
    lines = []
    for username in sorted(users):
        check_username(username)
        try:
            check_hash(users[username])
        except PasswordFormatError as exc:
            raise PasswordFormatError(f"user {username!r}: {exc}") from None
        lines.append(f"{username}:{users[username]}\n")
    return "".join(lines)


def parse_password_file(text: str) -> dict[str, str]:
    """Parse a password file into `{username: hash}`.

    Blank lines and lines starting with '#' are skipped; anything else must be a valid
    `username:hash` line, and a username may appear only once.
    """
    users: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        username, sep, hashed = line.partition(":")
        try:
            if not sep:
                raise PasswordFormatError("expected 'username:hash'")
            check_username(username)
            check_hash(hashed)
            if username in users:
                raise PasswordFormatError(f"duplicate user {username!r}")
        except PasswordFormatError as exc:
            raise PasswordFormatError(f"password file line {lineno}: {exc}") from None
        users[username] = hashed
    return users
