"""Unpadded, canonical base64url for signed tokens (pure): the receipt tokens' encoding."""

from __future__ import annotations

import base64
import re

_B64 = re.compile(r"[A-Za-z0-9_-]+")


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of `text`; ValueError unless it is the one canonical encoding of them (so a
    token cannot be altered into a second valid spelling)."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data
