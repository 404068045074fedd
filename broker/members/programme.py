"""A brand's loyalty programme: earning, spending, tiers, expiry and its coupons (pure).

Programmes are configuration: every brand gets `default_programme` unless the controller is
given another one (tests and the demo build their own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.loyalty.accrual import AccrualRules, OrderLine
from broker.loyalty.coupons import Coupon, CouponTemplate, FixedOff, PercentOff
from broker.loyalty.redemption import RedemptionRules
from broker.loyalty.tiers import DEFAULT_LADDER, TierLadder
from broker.storage.reward_records import CouponRecord


@dataclass(frozen=True)
class Programme:
    brand_id: str
    accrual: AccrualRules
    redemption: RedemptionRules = field(default_factory=RedemptionRules)
    ladder: TierLadder = DEFAULT_LADDER
    expiry_months: int = 24
    welcome: CouponTemplate | None = None
    # a neighbouring shop's coupon handed to whoever pays here (issued in the partner's name)
    cross_store: CouponTemplate | None = None


def default_programme(brand_id: str) -> Programme:
    """1 point per yuan, fresh food x2, double points on Wednesdays; 100 points = 1 yuan,
    at most half an order; a 5-yuan welcome coupon on 30 yuan."""
    return Programme(
        brand_id=brand_id,
        accrual=AccrualRules(brand_id=brand_id, points_per_yuan=1,
                             category_multipliers={"fresh": 2},
                             promo_weekdays=frozenset({2}),
                             tier_multipliers={"silver": 1.25, "gold": 1.5}),  # type: ignore[arg-type]
        welcome=CouponTemplate(template_id="welcome", brand_id=brand_id, kind="welcome",
                               value=FixedOff(500), min_spend_fen=3000, valid_days=30),
    )


def order_lines(items: tuple[dict[str, object], ...]) -> list[OrderLine]:
    return [OrderLine(sku=str(i.get("sku", "")), category=str(i.get("category", "")),
                      amount_fen=int(i["qty"]) * int(i["unit_fen"]))  # type: ignore[call-overload]
            for i in items]


def coupon_record(c: Coupon, *, kind: str, issue_ref: str, now_ms: int,
                  order_id: str | None = None) -> CouponRecord:
    """The storage form of a freshly issued coupon (one store, or every store)."""
    stores = sorted(c.store_ids) if c.store_ids else []
    value: dict[str, object]
    if isinstance(c.value, PercentOff):
        value = {"value_kind": "percent", "percent_off": c.value.percent,
                 "max_off_fen": c.value.max_off_fen}
    else:
        value = {"value_kind": "amount", "amount_off_fen": c.value.fen}
    return CouponRecord(code=c.code, brand_id=c.brand_id, kind=kind,
                        valid_from_ms=c.valid_from_ms, valid_to_ms=c.valid_until_ms,
                        issued_ms=now_ms, min_spend_fen=c.min_spend_fen,
                        owner_member_id=c.member_id, store_id=stores[0] if len(stores) == 1
                        else None, issued_for_order=order_id, issue_ref=issue_ref,
                        **value)  # type: ignore[arg-type]


def coupon_wire(c: CouponRecord) -> dict[str, object]:
    if c.value_kind == "percent":
        title = f"{c.percent_off}% off"
    else:
        title = f"¥{(c.amount_off_fen or 0) / 100:g} off"
    if c.min_spend_fen:
        title += f" from ¥{c.min_spend_fen / 100:g}"
    return {"code": c.code, "brand_id": c.brand_id, "kind": c.kind, "title": title,
            "amount_off_fen": c.amount_off_fen, "percent_off": c.percent_off,
            "min_spend_fen": c.min_spend_fen, "valid_to_ms": c.valid_to_ms}
