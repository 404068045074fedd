"""Realistic code contents for generated test frames, deterministic by seed (pure, no I/O).

What a terminal's camera is shown: wallet payment codes (WeChat: 18 digits starting 10-15;
Alipay: 16-24 digits starting 25-30), the platform's own receipt tokens (really issued by
`broker.loyalty.receipt_token` with a key made from the seed) and coupon codes, and a merchant
`weixin://wxpay/bizpayurl?pr=…` link (a shopper holding up the wrong QR: it must be read, then
refused). Payment codes are also shown as Code128 barcodes, as wallet apps do.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.loyalty import coupon_codes, receipt_token

Symbology = Literal["qr", "code128"]
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Payload:
    """One code to draw: its text, what it is (`kind`) and how it is drawn."""

    text: str
    kind: str
    symbology: Symbology


def _digits(rng: np.random.Generator, count: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=count))


def wechat_code(rng: np.random.Generator) -> str:
    """An 18-digit WeChat payment code (prefix 10-15)."""
    return str(rng.integers(10, 16)) + _digits(rng, 16)


def alipay_code(rng: np.random.Generator, length: int | None = None) -> str:
    """An Alipay payment code (prefix 25-30, 16-24 digits; 18 when `length` is None)."""
    size = 18 if length is None else length
    if not 16 <= size <= 24:
        raise ValueError("Alipay codes have 16-24 digits")
    return str(rng.integers(25, 31)) + _digits(rng, size - 2)


def merchant_url(rng: np.random.Generator) -> str:
    """A merchant's WeChat native-pay link (what the terminal shows, not a shopper's code)."""
    return "weixin://wxpay/bizpayurl?pr=" + "".join(rng.choice(list(_ALNUM), size=7))


def coupon(rng: np.random.Generator) -> str:
    """A canonical platform coupon code."""
    return coupon_codes.new_code(lambda n: rng.bytes(n))


def receipt(rng: np.random.Generator) -> str:
    """A receipt token signed with a key made from `rng` (typical length, ~189 characters)."""
    key = Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
    order_ref = "".join(rng.choice(list(string.ascii_uppercase + string.digits), size=26))
    issued_ms = 1_750_000_000_000 + int(rng.integers(0, 10**9))
    return receipt_token.issue(key, key_id="k1", brand_id="freshmart", store_id="sh-01",
                               order_ref=order_ref, amount_fen=int(rng.integers(1, 10**6)),
                               issued_ms=issued_ms, ttl_ms=30 * 86_400_000,
                               random_bytes=lambda n: rng.bytes(n))


def payload_set(seed: int) -> list[Payload]:
    """Twelve QR payloads and six barcodes, the same for the same seed.

    QR: 3 WeChat, 3 Alipay (16, 18 and 24 digits), 2 receipt tokens, 2 coupons, 2 merchant
    links. Code128: 3 WeChat and 3 Alipay codes.
    """
    rng = np.random.default_rng([seed, 0])
    wechat = [wechat_code(rng) for _ in range(6)]
    alipay = [alipay_code(rng, n) for n in (16, 18, 24, 18, 18, 20)]
    qr = ([Payload(t, "wechat_pay", "qr") for t in wechat[:3]]
          + [Payload(t, "alipay", "qr") for t in alipay[:3]]
          + [Payload(receipt(rng), "receipt_token", "qr") for _ in range(2)]
          + [Payload(coupon(rng), "coupon", "qr") for _ in range(2)]
          + [Payload(merchant_url(rng), "merchant_url", "qr") for _ in range(2)])
    bars = ([Payload(t, "wechat_pay", "code128") for t in wechat[3:]]
            + [Payload(t, "alipay", "code128") for t in alipay[3:]])
    return qr + bars
