"""Shareable coupon codes: unguessable, typo-checked, safe in URLs and easy to read aloud.

Format: 18 characters of Crockford base32 (`0-9` and `A-Z` without I, L, O, U): 17 random
characters carrying 85 random bits, then one Luhn mod 32 check character. Shown to people as
three groups of six (`XXXXXX-XXXXXX-XXXXXX`).

* Unguessable: 85 bits from the injected random source (pass `secrets.token_bytes`).
* URL-safe: only unreserved characters, no padding.
* Typos are caught before any lookup: every single mistyped character changes the check, and so
  does swapping two neighbouring characters, except the one pair Luhn mod N cannot see
  (`0` next to `Z`).
* Parsing forgives what people do: lower case, spaces and hyphens anywhere, and the look-alikes
  O (read as 0) and I / L (read as 1). It refuses everything else: text longer than 64
  characters (before any other work), non-ASCII, other characters, wrong length, bad check.
"""

from __future__ import annotations

from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_BITS = 85
DATA_CHARS = 17
CODE_CHARS = DATA_CHARS + 1
MAX_INPUT_CHARS = 64
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_N = len(ALPHABET)


class CouponCodeError(ValueError):
    """A text that is not a well-formed coupon code."""


def _luhn_sum(values: list[int], double_first: bool) -> int:
    total = 0
    double = double_first
    for value in reversed(values):
        addend = value * 2 if double else value
        total += addend // _N + addend % _N
        double = not double
    return total


def check_char(data: str) -> str:
    """The Luhn mod 32 check character of canonical data characters."""
    total = _luhn_sum([_VALUE[c] for c in data], double_first=True)
    return ALPHABET[(_N - total % _N) % _N]


def new_code(random_bytes: Callable[[int], bytes]) -> str:
    """A fresh canonical code from `random_bytes(n)` (e.g. `secrets.token_bytes`)."""
    raw = random_bytes(11)
    if len(raw) != 11:
        raise ValueError("the random source returned the wrong number of bytes")
    number = int.from_bytes(raw, "big") >> (88 - RANDOM_BITS)
    data = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(DATA_CHARS)))
    return data + check_char(data)


def parse_code(text: str) -> str:
    """The canonical code in `text`; CouponCodeError when it is not a valid one."""
    if not isinstance(text, str):
        raise CouponCodeError("not text")
    if len(text) > MAX_INPUT_CHARS:
        raise CouponCodeError("too long")
    if not text.isascii():
        raise CouponCodeError("unexpected characters")
    code = text.upper().translate(_LOOKALIKES)
    if len(code) != CODE_CHARS:
        raise CouponCodeError("wrong length")
    if any(c not in _VALUE for c in code):
        raise CouponCodeError("unexpected characters")
    if _luhn_sum([_VALUE[c] for c in code], double_first=False) % _N:
        raise CouponCodeError("check character does not match (typo?)")
    return code


def display_code(code: str) -> str:
    """`code` in three groups of six for printing and reading aloud."""
    canonical = parse_code(code)
    return "-".join(canonical[i:i + 6] for i in range(0, CODE_CHARS, 6))
