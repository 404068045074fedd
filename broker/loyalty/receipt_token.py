"""Signed one-time receipt tokens: points for purchases paid by cash or card.

Text format: `R1.<payload>.<signature>`, both parts unpadded base64url (canonical: a token whose
base64 has stray low bits or padding is malformed). The Ed25519 signature (64 bytes) covers the
ASCII text `R1.<payload>`, so any change to the visible text is caught. Payload bytes (v1):

    token id 12 (96 random bits) | issued ms 6 | expires ms 6 | amount fen 4   (big-endian)
    then key id, brand id, store id, order reference: 1 length byte + UTF-8 each
    (at most 16, 32, 32 and 64 bytes)

Length: 4 + 4/3 x (28 + 4 + the four strings' UTF-8 bytes) + 86 characters. A typical token
(key `k1`, brand `freshmart`, store `sh-01`, a 26-character order id) is 189 characters: QR
version 10 at error correction M (213 bytes in byte mode; 57 x 57 modules, about 21 mm with
0.375 mm modules on a 203 dpi receipt printer, quiet zone excluded). Order references up to
18 characters fit version 9 (180 bytes); the longest possible token is 325 characters,
version 13 (331 bytes). Ed25519 was kept over a shorter HMAC (that would save 43
characters, about one QR version) so the issuer (a till, a terminal) holds only its private
key and a leaked verifying key cannot mint points; `key id` selects the public key and allows
rotation.

Points are not in the token: they are computed when the receipt is claimed, with the brand's
accrual rules at the purchase time (`issued_ms`) and the tier of the member who claims it
(unknown at the till, since a cash buyer is anonymous until they scan).

One-time use is not enforced here: storage must insert the token id under a unique constraint
when crediting the points (a second claim finds it and answers `already_claimed`).

`verify` refuses text over 512 characters before decoding anything and raises only
`ReceiptTokenError` with a `reason`: malformed, unknown_key, bad_signature, not_yet_valid
(issued more than `leeway_ms` in the future, for clock skew between till and controller) or
expired (at or after `expires_ms`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.loyalty import base64url

PREFIX = "R1."
MAX_TOKEN_CHARS = 512
TOKEN_ID_BYTES = 12
STRING_LIMITS = (("key_id", 16), ("brand_id", 32), ("store_id", 32), ("order_ref", 64))
_FIXED = TOKEN_ID_BYTES + 6 + 6 + 4
_MAX_MS = (1 << 48) - 1
Reason = Literal["malformed", "bad_signature", "unknown_key", "expired", "not_yet_valid"]


class ReceiptTokenError(Exception):
    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason


@dataclass(frozen=True, slots=True)
class ReceiptClaim:
    token_id: str  # 24 hex characters; store it under a unique constraint
    key_id: str
    brand_id: str
    store_id: str
    order_ref: str
    amount_fen: int
    issued_ms: int
    expires_ms: int


def _unb64(text: str) -> bytes:
    try:
        return base64url.decode(text)
    except ValueError as exc:
        raise ReceiptTokenError("malformed", str(exc)) from None


def _encode(claim: ReceiptClaim) -> bytes:
    if not 0 <= claim.amount_fen < 1 << 32:
        raise ValueError("amount_fen out of range")
    if not 0 <= claim.issued_ms < claim.expires_ms <= _MAX_MS:
        raise ValueError("need 0 <= issued_ms < expires_ms < 2**48")
    out = bytearray(bytes.fromhex(claim.token_id))
    out += claim.issued_ms.to_bytes(6, "big") + claim.expires_ms.to_bytes(6, "big")
    out += claim.amount_fen.to_bytes(4, "big")
    for name, limit in STRING_LIMITS:
        raw = getattr(claim, name).encode("utf-8")
        if not 1 <= len(raw) <= limit:
            raise ValueError(f"{name} must be 1..{limit} bytes of UTF-8")
        out += bytes([len(raw)]) + raw
    return bytes(out)


def _decode(data: bytes) -> ReceiptClaim:
    if len(data) < _FIXED:
        raise ReceiptTokenError("malformed", "payload too short")
    at = _FIXED
    strings: list[str] = []
    for name, limit in STRING_LIMITS:
        size = data[at] if at < len(data) else 0
        if not 1 <= size <= limit or at + 1 + size > len(data):
            raise ReceiptTokenError("malformed", f"bad {name}")
        try:
            strings.append(data[at + 1:at + 1 + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise ReceiptTokenError("malformed", f"{name} is not UTF-8") from None
        at += 1 + size
    if at != len(data):
        raise ReceiptTokenError("malformed", "trailing bytes")
    issued, expires = int.from_bytes(data[12:18], "big"), int.from_bytes(data[18:24], "big")
    if expires <= issued:
        raise ReceiptTokenError("malformed", "expires before it is issued")
    key_id, brand_id, store_id, order_ref = strings
    return ReceiptClaim(data[:12].hex(), key_id, brand_id, store_id, order_ref,
                        int.from_bytes(data[24:28], "big"), issued, expires)


def issue(signing_key: Ed25519PrivateKey, *, key_id: str, brand_id: str, store_id: str,
          order_ref: str, amount_fen: int, issued_ms: int, ttl_ms: int,
          random_bytes: Callable[[int], bytes]) -> str:
    """A signed receipt token valid from `issued_ms` for `ttl_ms`; `random_bytes` makes its id."""
    token_id = random_bytes(TOKEN_ID_BYTES)
    if len(token_id) != TOKEN_ID_BYTES:
        raise ValueError("the random source returned the wrong number of bytes")
    if ttl_ms < 1:
        raise ValueError("ttl_ms must be positive")
    claim = ReceiptClaim(token_id.hex(), key_id, brand_id, store_id, order_ref, amount_fen,
                         issued_ms, issued_ms + ttl_ms)
    signed = PREFIX + base64url.encode(_encode(claim))
    return f"{signed}.{base64url.encode(signing_key.sign(signed.encode('ascii')))}"


def verify(text: str, public_keys: Mapping[str, Ed25519PublicKey], now_ms: int, *,
           leeway_ms: int = 120_000) -> ReceiptClaim:
    """The claim in `text` if it is well-formed, signed by a known key and valid at `now_ms`."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_CHARS:
        raise ReceiptTokenError("malformed", "not text or too long")
    if not text.startswith(PREFIX) or text.count(".") != 2:
        raise ReceiptTokenError("malformed", "not an R1 token")
    payload_text, sig_text = text[len(PREFIX):].split(".")
    claim = _decode(_unb64(payload_text))
    signature = _unb64(sig_text)
    if len(signature) != 64:
        raise ReceiptTokenError("malformed", "wrong signature length")
    key = public_keys.get(claim.key_id)
    if key is None:
        raise ReceiptTokenError("unknown_key", claim.key_id)
    try:
        key.verify(signature, text[:len(PREFIX) + len(payload_text)].encode("ascii"))
    except InvalidSignature:
        raise ReceiptTokenError("bad_signature") from None
    if claim.issued_ms > now_ms + leeway_ms:
        raise ReceiptTokenError("not_yet_valid")
    if now_ms >= claim.expires_ms:
        raise ReceiptTokenError("expired")
    return claim
