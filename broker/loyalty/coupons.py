"""Coupon templates, issued coupons and the checks at redemption.

* Kinds: `welcome` (on joining), `birthday`, `campaign`, `cross_store` (issued by a neighbouring
  shop after a purchase here: the template belongs to the neighbour's brand and stores, and the
  coupon records the store whose purchase earned it).
* Value: a fixed amount off (`FixedOff`) or a percentage off with a ceiling (`PercentOff`,
  rounded down to the fen). The discount never takes the payable below `MIN_PAYABLE_FEN`
  (1 fen: the order must still be paid by wallet or card, which identifies the payer).
* Minimum spend is judged on the goods amount of the order before any discount.
* Validity: `issue` sets [valid_from, valid_until) to the template's `valid_days` from issue,
  clipped to the template's absolute window when it has one; a template whose window has
  closed cannot issue.
* Scope: the coupon's brand; `store_ids` None means every store of that brand.
* Owner: a coupon issued to a member can only be used in that member's order; one issued with
  no member (a shared campaign code) by anyone.
* Single use: a coupon with `redeemed_ms` set is refused. Storage must make the redemption
  itself atomic (a conditional update on a coupon not yet redeemed), since two terminals may
  check the same code at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.loyalty.money import MIN_PAYABLE_FEN

CouponKind = Literal["welcome", "birthday", "campaign", "cross_store"]
RefusalReason = Literal["already_used", "not_yet_valid", "expired", "wrong_brand", "wrong_store",
                        "not_owner", "below_min_spend"]
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class FixedOff:
    fen: int

    def __post_init__(self) -> None:
        if self.fen < 1:
            raise ValueError("a fixed discount must be at least 1 fen")


@dataclass(frozen=True, slots=True)
class PercentOff:
    percent: int
    max_off_fen: int

    def __post_init__(self) -> None:
        if not 1 <= self.percent <= 100:
            raise ValueError("percent must be within 1..100")
        if self.max_off_fen < 1:
            raise ValueError("max_off_fen must be at least 1 fen")


@dataclass(frozen=True, slots=True)
class CouponTemplate:
    template_id: str
    brand_id: str
    kind: CouponKind
    value: FixedOff | PercentOff
    min_spend_fen: int = 0
    store_ids: frozenset[str] | None = None
    valid_days: int = 30
    window_start_ms: int | None = None
    window_end_ms: int | None = None

    def __post_init__(self) -> None:
        if self.min_spend_fen < 0 or self.valid_days < 1:
            raise ValueError("min_spend_fen must be >= 0 and valid_days >= 1")
        if (self.window_start_ms is not None and self.window_end_ms is not None
                and self.window_end_ms <= self.window_start_ms):
            raise ValueError("the window must end after it starts")


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    template_id: str
    brand_id: str
    kind: CouponKind
    value: FixedOff | PercentOff
    min_spend_fen: int
    store_ids: frozenset[str] | None
    valid_from_ms: int
    valid_until_ms: int
    member_id: str | None = None
    source_store_id: str | None = None
    redeemed_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CouponOrder:
    """What a coupon check needs to know about the order."""

    brand_id: str
    store_id: str
    amount_fen: int
    member_id: str | None = None


def issue(template: CouponTemplate, code: str, now_ms: int, *, member_id: str | None = None,
          source_store_id: str | None = None) -> Coupon:
    """A coupon of `template` with `code` (from `coupon_codes.new_code`) issued at `now_ms`."""
    if template.kind == "cross_store" and source_store_id is None:
        raise ValueError("a cross-store coupon records the store whose purchase earned it")
    start = now_ms if template.window_start_ms is None else max(now_ms, template.window_start_ms)
    end = now_ms + template.valid_days * DAY_MS
    if template.window_end_ms is not None:
        end = min(end, template.window_end_ms)
    if end <= start:
        raise ValueError(f"template {template.template_id!r} can no longer be issued")
    return Coupon(code, template.template_id, template.brand_id, template.kind, template.value,
                  template.min_spend_fen, template.store_ids, start, end, member_id,
                  source_store_id)


def check_redeemable(coupon: Coupon, order: CouponOrder, now_ms: int) -> RefusalReason | None:
    """None when `coupon` can be used on `order` at `now_ms`, else why not."""
    if coupon.redeemed_ms is not None:
        return "already_used"
    if now_ms < coupon.valid_from_ms:
        return "not_yet_valid"
    if now_ms >= coupon.valid_until_ms:
        return "expired"
    if order.brand_id != coupon.brand_id:
        return "wrong_brand"
    if coupon.store_ids is not None and order.store_id not in coupon.store_ids:
        return "wrong_store"
    if coupon.member_id is not None and order.member_id != coupon.member_id:
        return "not_owner"
    if order.amount_fen < coupon.min_spend_fen:
        return "below_min_spend"
    return None


def discount(coupon: Coupon, payable_fen: int) -> int:
    """Fen taken off `payable_fen` by `coupon` (never leaving less than 1 fen to pay)."""
    room = max(payable_fen - MIN_PAYABLE_FEN, 0)
    value = coupon.value
    if isinstance(value, FixedOff):
        off = value.fen
    else:
        off = min(max(payable_fen, 0) * value.percent // 100, value.max_off_fen)
    return min(off, room)
