"""The technician PIN (pure apart from hashing): stored as a salted PBKDF2 hash, checked in
constant time, locked for a while after too many wrong tries.

Encoded form: ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``. Without a configured PIN
the technician screen cannot be opened at all (and so neither can the kiosk be left).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Literal

ITERATIONS = 120_000
PIN_RE = re.compile(r"^[0-9]{4,12}$")


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    if not PIN_RE.match(pin):
        raise ValueError("a PIN is 4 to 12 digits")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"pbkdf2_sha256${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, encoded: str) -> bool:
    try:
        scheme, iterations, salt, digest = encoded.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        want = base64.b64decode(digest, validate=True)
        got = hashlib.pbkdf2_hmac("sha256", pin.encode(), base64.b64decode(salt, validate=True),
                                  int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(want, got)


Outcome = Literal["ok", "wrong", "locked", "unset"]


@dataclass(frozen=True)
class PinResult:
    outcome: Outcome
    tries_left: int = 0
    locked_for_s: int = 0


@dataclass
class PinGate:
    encoded: str | None
    max_tries: int = 5
    lockout_s: float = 300.0
    _wrong: int = 0
    _locked_until: float = 0.0

    def check(self, pin: str, now_s: float) -> PinResult:
        if not self.encoded:
            return PinResult("unset")
        if now_s < self._locked_until:
            return PinResult("locked", locked_for_s=int(self._locked_until - now_s + 0.999))
        if PIN_RE.match(pin) and verify_pin(pin, self.encoded):
            self._wrong = 0
            return PinResult("ok")
        self._wrong += 1
        if self._wrong >= self.max_tries:
            self._wrong = 0
            self._locked_until = now_s + self.lockout_s
            return PinResult("locked", locked_for_s=int(self.lockout_s))
        return PinResult("wrong", tries_left=self.max_tries - self._wrong)
