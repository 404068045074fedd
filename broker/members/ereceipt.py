"""E-receipt links: a signed capability to view one paid order's receipt in a browser (pure).

Text format: `er1.<payload>.<signature>`, both parts unpadded base64url (canonical, as in
`broker.loyalty.receipt_token`). The Ed25519 signature (64 bytes) covers the ASCII text
`er1.<payload>`. Payload bytes (v1):

    expires ms 6 (big-endian) | order id 13 (ASCII, `o` + 12 of a-z 2-7)

A token is 117 characters: with a base URL such as `https://shop.example.com/r/` the link
fits a QR code of version 8 at error correction M (152 bytes).

The kind and version live in the prefix and the prefix is signed, so a points-claim receipt
token (`R1.`, signed over `R1.<payload>`) can never pass as an e-receipt link, nor the other way
round, even though the controller signs both with its one receipt key. The signature is
checked before the expiry, so a tampered token is `bad_signature` (or `malformed`), never
`expired`. `verify` refuses text over 256 characters before decoding anything and raises only
`EReceiptTokenError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.loyalty import base64url

PREFIX = "er1."
MAX_TOKEN_CHARS = 256
DEFAULT_TTL_MS = 30 * 86_400_000
_ORDER_ID = re.compile(r"o[a-z2-7]{12}")
_PAYLOAD_BYTES = 6 + 13
_MAX_MS = (1 << 48) - 1
Reason = Literal["malformed", "bad_signature", "expired"]


class EReceiptTokenError(Exception):
    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason


@dataclass(frozen=True, slots=True)
class EReceiptClaim:
    order_id: str
    expires_ms: int


def _unb64(text: str) -> bytes:
    try:
        return base64url.decode(text)
    except ValueError as exc:
        raise EReceiptTokenError("malformed", str(exc)) from None


def issue(key: Ed25519PrivateKey, order_id: str, *, now_ms: int,
          ttl_ms: int = DEFAULT_TTL_MS) -> str:
    """A link token for `order_id`, valid from `now_ms` for `ttl_ms`."""
    if not _ORDER_ID.fullmatch(order_id):
        raise ValueError(f"not an order id: {order_id!r}")
    if ttl_ms < 1 or not 0 <= now_ms + ttl_ms <= _MAX_MS:
        raise ValueError("need ttl_ms >= 1 and an expiry below 2**48 ms")
    payload = (now_ms + ttl_ms).to_bytes(6, "big") + order_id.encode("ascii")
    signed = PREFIX + base64url.encode(payload)
    return f"{signed}.{base64url.encode(key.sign(signed.encode('ascii')))}"


def verify(text: str, public_key: Ed25519PublicKey, now_ms: int) -> EReceiptClaim:
    """The order and expiry in `text` if it is well-formed, signed by `public_key` and not
    expired at `now_ms`."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_CHARS:
        raise EReceiptTokenError("malformed", "not text or too long")
    if not text.startswith(PREFIX) or text.count(".") != 2:
        raise EReceiptTokenError("malformed", "not an er1 token")
    payload_text, sig_text = text[len(PREFIX):].split(".")
    payload, signature = _unb64(payload_text), _unb64(sig_text)
    if len(payload) != _PAYLOAD_BYTES or len(signature) != 64:
        raise EReceiptTokenError("malformed", "wrong payload or signature length")
    order_id = payload[6:].decode("ascii", errors="replace")
    if not _ORDER_ID.fullmatch(order_id):
        raise EReceiptTokenError("malformed", "not an order id")
    try:
        public_key.verify(signature, text[:len(PREFIX) + len(payload_text)].encode("ascii"))
    except InvalidSignature:
        raise EReceiptTokenError("bad_signature") from None
    claim = EReceiptClaim(order_id, int.from_bytes(payload[:6], "big"))
    if now_ms >= claim.expires_ms:
        raise EReceiptTokenError("expired")
    return claim


def link(base_url: str, token: str) -> str:
    """The page that shows the receipt: `<base>/r/<token>`."""
    return f"{base_url.rstrip('/')}/r/{token}"
