"""Records of orders and payment attempts (validated frozen dataclasses) and row mapping."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from broker.payments import member_pricing
from broker.payments.lifecycle import AttemptView
from broker.storage.payments_schema import ATTEMPT_METHODS, ATTEMPT_STATES, ORDER_STATES
from broker.storage.records import _check_ms, _check_text, _fail

MAX_ORDER_FEN = 10_000_000_00  # 10 million yuan: anything larger is a typo
ORDER_ID_RE = re.compile(r"^o[a-z2-7]{12}$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_order_id() -> str:
    return "o" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def trade_no(order_id: str, attempt: int) -> str:
    """The attempt's `out_trade_no`: 6-32 chars of [A-Za-z0-9_-] as WeChat and Alipay want."""
    return f"{order_id}-{attempt}"


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order_id: str
    store_id: str
    device_id: str
    brand_id: str
    items: tuple[dict[str, Any], ...]
    amount_fen: int
    state: str
    source: str  # pos | keypad
    request_key: str
    request_sha256: str
    created_ms: int
    expires_ms: int
    updated_ms: int
    discount_fen: int = 0  # every discount: member prices, points, coupon
    member_discount_fen: int = 0  # the member prices' part of discount_fen (0: not applied)
    points_used: int = 0
    coupon_code: str | None = None
    member_id: str | None = None
    paid_ms: int | None = None
    paid_trade_no: str | None = None
    payer: str | None = None
    refunded_fen: int = 0
    attempts: int = 0
    settled: bool = False

    def __post_init__(self) -> None:
        what = f"order {self.order_id!r}"
        if not ORDER_ID_RE.match(self.order_id):
            _fail(what, "order_id must be 'o' + 12 base32 chars")
        if self.state not in ORDER_STATES:
            _fail(what, f"state must be one of {ORDER_STATES}, got {self.state!r}")
        if type(self.amount_fen) is not int or not 0 < self.amount_fen <= MAX_ORDER_FEN:
            _fail(what, f"amount_fen must be 1..{MAX_ORDER_FEN}, got {self.amount_fen!r}")
        if not 0 <= self.discount_fen < self.amount_fen:
            _fail(what, "discount_fen must be >= 0 and leave at least 1 fen to pay")
        if not 0 <= self.member_discount_fen <= self.discount_fen:
            _fail(what, "member_discount_fen must be 0..discount_fen")
        _check_text(what, "request_key", self.request_key, 200)
        for name in ("created_ms", "expires_ms", "updated_ms"):
            _check_ms(what, name, getattr(self, name))

    @property
    def payable_fen(self) -> int:
        return self.amount_fen - self.discount_fen

    def member_totals(self) -> member_pricing.MemberTotals:
        return member_pricing.totals(self.items)

    def view(self) -> dict[str, Any]:
        """The order as the wire contract shows it (docs/checkout.md)."""
        member = self.member_totals()
        return {
            "order_id": self.order_id, "store_id": self.store_id, "device_id": self.device_id,
            "brand_id": self.brand_id,
            "items": [{**i, "member_unit_fen": i.get("member_unit_fen")} for i in self.items],
            "amount_fen": self.amount_fen, "discount_fen": self.discount_fen,
            "payable_fen": self.payable_fen, "member_amount_fen": member.member_fen,
            "member_saving_fen": member.saving_fen,
            "member_discount_fen": self.member_discount_fen,
            "member_payable_fen": member_pricing.member_payable(
                self.payable_fen, member.saving_fen, self.member_discount_fen),
            "state": self.state, "member_id": self.member_id, "points_used": self.points_used,
            "coupon_code": self.coupon_code, "created_ms": self.created_ms,
            "expires_ms": self.expires_ms, "paid_ms": self.paid_ms,
            "refunded_fen": self.refunded_fen,
        }


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    out_trade_no: str
    order_id: str
    provider: str
    method: str
    state: str
    amount_fen: int
    request_key: str
    created_ms: int
    updated_ms: int
    expires_ms: int
    unknown: bool = False
    code_url: str | None = None
    contract_id: str | None = None
    transaction_id: str | None = None
    payer: str | None = None
    error: str | None = None
    next_check_ms: int | None = None
    checks: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        what = f"attempt {self.out_trade_no!r}"
        if self.method not in ATTEMPT_METHODS:
            _fail(what, f"method must be one of {ATTEMPT_METHODS}, got {self.method!r}")
        if self.state not in ATTEMPT_STATES:
            _fail(what, f"state must be one of {ATTEMPT_STATES}, got {self.state!r}")
        if not re.match(r"^[A-Za-z0-9_-]{6,32}$", self.out_trade_no):
            _fail(what, "out_trade_no must be 6-32 chars of A-Z a-z 0-9 _ -")

    def as_view(self) -> AttemptView:
        return AttemptView(method=self.method, state=self.state, unknown=self.unknown,
                           created_ms=self.created_ms, expires_ms=self.expires_ms,
                           checks=self.checks, next_check_ms=self.next_check_ms,
                           error=self.error, transaction_id=self.transaction_id,
                           payer=self.payer)

    @property
    def final(self) -> bool:
        return self.state in ("paid", "failed", "closed", "reversed")

    @property
    def live(self) -> bool:
        return self.state in ("pending", "waiting", "closing")

    def final_like(self) -> bool:
        """Over without a payment (failed, closed, reversed)."""
        return self.state in ("failed", "closed", "reversed")

    def wire(self) -> dict[str, Any]:
        return {"out_trade_no": self.out_trade_no, "method": self.method, "state": self.state,
                "code_url": self.code_url, "expires_ms": self.expires_ms, "error": self.error,
                "unknown": self.unknown}


ORDER_FIELDS = frozenset(OrderRecord.__dataclass_fields__)
ATTEMPT_FIELDS = frozenset(AttemptRecord.__dataclass_fields__) - {"extra"}


def order_from_row(row: Any) -> OrderRecord:
    m = dict(row._mapping)
    m["items"] = tuple(m["items"])
    return OrderRecord(**{k: v for k, v in m.items() if k in ORDER_FIELDS})


def attempt_from_row(row: Any) -> AttemptRecord:
    m = dict(row._mapping)
    return AttemptRecord(**{k: v for k, v in m.items() if k in ATTEMPT_FIELDS})


def order_values(o: OrderRecord) -> dict[str, Any]:
    values = {k: getattr(o, k) for k in ORDER_FIELDS}
    values["items"] = list(o.items)
    return values


def attempt_values(a: AttemptRecord) -> dict[str, Any]:
    return {k: getattr(a, k) for k in ATTEMPT_FIELDS}
