"""E-receipts (loop-bound): `receipt.link` for the terminal and the receipt the page shows.

The terminal asks for a link after a paid order and shows it as a QR code; the shopper's phone
opens `GET /r/<token>` (`broker.web.receipt_page`). The token (`broker.members.ereceipt`) is
the capability: whoever holds it sees that one receipt, until it expires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import storage
from broker.loyalty.local_time import zone
from broker.members import ereceipt
from broker.payments.service import CheckoutError
from broker.storage import payments as pay_db
from broker.storage import signage
from broker.storage.payments_records import OrderRecord

RECEIPT_STATES = ("paid", "refunded")
PROVIDERS = {"wechat": "WeChat Pay", "alipay": "Alipay", "sandbox": "WeChat Pay (sandbox)"}
METHODS = {"native": "QR code", "code": "payment code", "face_balance": "face (stored value)",
           "face_agreement": "face"}


def yuan(fen: int) -> str:
    """Integer fen as `¥12.34`."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    name: str
    qty: int
    unit: str
    total: str


@dataclass(frozen=True, slots=True)
class ReceiptView:
    order_id: str
    store_id: str
    store_name: str
    brand_id: str
    brand_name: str
    paid_at: str  # store-local wall clock, "YYYY-MM-DD HH:MM"
    timezone: str
    lines: tuple[ReceiptLine, ...]
    amount: str
    discount: str  # as taken off: "-¥3.00" ("¥0.00" when none)
    payable: str
    method: str
    refunded: bool  # the whole order was refunded
    refunded_amount: str | None  # some or all of it was refunded


def _line(item: dict[str, Any]) -> ReceiptLine:
    qty, unit = int(item.get("qty", 1)), int(item.get("unit_fen", 0))
    return ReceiptLine(str(item.get("name", "")), qty, yuan(unit), yuan(qty * unit))


def _local(t_ms: int, tz: str) -> tuple[str, str]:
    try:
        when = datetime.fromtimestamp(t_ms / 1000, tz=zone(tz))
    except ValueError:
        when, tz = datetime.fromtimestamp(t_ms / 1000, tz=UTC), "UTC"
    return when.strftime("%Y-%m-%d %H:%M"), tz


async def receipt_view(db: storage.Database, order: OrderRecord) -> ReceiptView:
    """What the receipt page shows of a paid (or refunded) order."""
    store = await storage.get_store(db, order.store_id)
    brand = await signage.get_brand(db, order.brand_id)
    attempt = (await pay_db.get_attempt(db, order.paid_trade_no)
               if order.paid_trade_no else None)
    method = "—"
    if attempt is not None:
        method = (f"{PROVIDERS.get(attempt.provider, attempt.provider)}, "
                  f"{METHODS.get(attempt.method, attempt.method)}")
    paid_at, tz = _local(order.paid_ms or order.updated_ms,
                         store.timezone if store else "UTC")
    return ReceiptView(
        order_id=order.order_id, store_id=order.store_id,
        store_name=store.name if store else order.store_id, brand_id=order.brand_id,
        brand_name=brand.name if brand else order.brand_id, paid_at=paid_at, timezone=tz,
        lines=tuple(_line(item) for item in order.items), amount=yuan(order.amount_fen),
        discount=yuan(-order.discount_fen), payable=yuan(order.payable_fen), method=method,
        refunded=order.state == "refunded",
        refunded_amount=yuan(order.refunded_fen) if order.refunded_fen else None)


class EReceipts:
    """Issues e-receipt links and opens them. `base_url` follows the controller's public URL
    (`CheckoutStack.set_notify_base`)."""

    def __init__(self, db: storage.Database, key: Ed25519PrivateKey, *, base_url: str,
                 now_ms: Callable[[], int], ttl_ms: int = ereceipt.DEFAULT_TTL_MS) -> None:
        self.db = db
        self.key = key
        self.base_url = base_url
        self.now_ms = now_ms
        self.ttl_ms = ttl_ms

    async def link(self, order_id: str, device_id: str) -> dict[str, Any]:
        """`{url, expires_ms}` for an order of this terminal that was paid."""
        order = await pay_db.get_order(self.db, order_id)
        if order is None or order.device_id != device_id:
            raise CheckoutError("not_found", f"no order {order_id}")
        if order.state not in RECEIPT_STATES:
            raise CheckoutError("conflict", f"order {order_id} is {order.state}, not paid")
        now = self.now_ms()
        token = ereceipt.issue(self.key, order_id, now_ms=now, ttl_ms=self.ttl_ms)
        return {"url": ereceipt.link(self.base_url, token), "expires_ms": now + self.ttl_ms}

    async def open(self, token: str) -> ReceiptView | None:
        """The receipt `token` opens; None when its order is gone or no longer shows one.
        Raises `EReceiptTokenError` for a bad or expired token."""
        claim = ereceipt.verify(token, self.key.public_key(), self.now_ms())
        order = await pay_db.get_order(self.db, claim.order_id)
        if order is None or order.state not in RECEIPT_STATES:
            return None
        return await receipt_view(self.db, order)
