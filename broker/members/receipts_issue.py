"""Receipt QR codes for purchases paid by cash or card (the POS asks, the controller signs).

The token is `loyalty.receipt_token.issue` signed with the controller's receipt key; the
terminal reads it from the printed receipt and claims it with `receipt.claim` (`MemberDesk`),
which checks the signature and expiry and credits the points once. The QR is drawn with
`qrcode` at error correction M (a typical 189-character token is version 10: see
`receipt_token`), as a PNG with the standard 4-module quiet zone.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from dataclasses import dataclass

import qrcode  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped]

from broker.loyalty.receipt_token import issue

MODULE_PX = 4


@dataclass(frozen=True, slots=True)
class IssuedReceipt:
    token: str
    qr_png: bytes
    issued_ms: int
    expires_ms: int


def qr_png(text: str, module_px: int = MODULE_PX) -> bytes:
    """`text` as a QR code PNG (black on white, 4-module quiet zone)."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=module_px, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(out, format="PNG")
    return out.getvalue()


async def issue_receipt(key: Ed25519PrivateKey, *, key_id: str, brand_id: str, store_id: str,
                        order_ref: str, amount_fen: int, now_ms: int,
                        ttl_ms: int) -> IssuedReceipt:
    """A signed one-time receipt token and its QR code (drawn off the event loop)."""
    token = issue(key, key_id=key_id, brand_id=brand_id, store_id=store_id,
                  order_ref=order_ref, amount_fen=amount_fen, issued_ms=now_ms, ttl_ms=ttl_ms,
                  random_bytes=secrets.token_bytes)
    png = await asyncio.to_thread(qr_png, token)
    return IssuedReceipt(token, png, now_ms, now_ms + ttl_ms)
