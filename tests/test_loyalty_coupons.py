"""Coupons: issuing windows, redemption checks and discounts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.loyalty.coupons import (
    DAY_MS,
    Coupon,
    CouponOrder,
    CouponTemplate,
    FixedOff,
    PercentOff,
    check_redeemable,
    discount,
    issue,
)

NOW = 1_750_000_000_000
WELCOME = CouponTemplate("t-welcome", "freshmart", "welcome", FixedOff(500), min_spend_fen=3000,
                         valid_days=30)
ORDER = CouponOrder("freshmart", "sh-01", 5000, member_id="m-1")


def welcome(**kw: object) -> Coupon:
    return issue(WELCOME, "CODE", NOW, member_id="m-1", **kw)  # type: ignore[arg-type]


def test_issued_coupon_is_valid_for_its_days() -> None:
    c = welcome()
    assert (c.valid_from_ms, c.valid_until_ms) == (NOW, NOW + 30 * DAY_MS)
    assert check_redeemable(c, ORDER, NOW) is None
    assert check_redeemable(c, ORDER, NOW + 30 * DAY_MS - 1) is None
    assert check_redeemable(c, ORDER, NOW + 30 * DAY_MS) == "expired"
    assert check_redeemable(c, ORDER, NOW - 1) == "not_yet_valid"


def test_campaign_window_clips_validity_and_closed_window_cannot_issue() -> None:
    t = CouponTemplate("t-c", "freshmart", "campaign", PercentOff(20, 2000), valid_days=30,
                       window_start_ms=NOW + DAY_MS, window_end_ms=NOW + 5 * DAY_MS)
    c = issue(t, "C", NOW)
    assert (c.valid_from_ms, c.valid_until_ms) == (NOW + DAY_MS, NOW + 5 * DAY_MS)
    assert check_redeemable(c, CouponOrder("freshmart", "any", 100), NOW) == "not_yet_valid"
    assert check_redeemable(c, CouponOrder("freshmart", "any", 100), NOW + DAY_MS) is None
    with pytest.raises(ValueError):
        issue(t, "C", NOW + 5 * DAY_MS)


def test_refusals_name_the_reason() -> None:
    c = welcome()
    assert check_redeemable(c, CouponOrder("teashop", "sh-01", 5000, "m-1"), NOW) == \
        "wrong_brand"
    assert check_redeemable(c, CouponOrder("freshmart", "sh-01", 2999, "m-1"), NOW) == \
        "below_min_spend"
    assert check_redeemable(c, CouponOrder("freshmart", "sh-01", 5000, "m-2"), NOW) == \
        "not_owner"
    assert check_redeemable(c, CouponOrder("freshmart", "sh-01", 5000, None), NOW) == \
        "not_owner"
    used = replace(c, redeemed_ms=NOW)
    assert check_redeemable(used, ORDER, NOW) == "already_used"


def test_cross_store_coupon_is_scoped_to_the_neighbour() -> None:
    t = CouponTemplate("t-x", "teashop", "cross_store", FixedOff(300),
                       store_ids=frozenset({"tea-7"}))
    with pytest.raises(ValueError):
        issue(t, "X", NOW, member_id="m-1")
    c = issue(t, "X", NOW, member_id="m-1", source_store_id="sh-01")
    assert c.source_store_id == "sh-01"
    assert check_redeemable(c, CouponOrder("teashop", "tea-7", 100, "m-1"), NOW) is None
    assert check_redeemable(c, CouponOrder("teashop", "tea-8", 100, "m-1"), NOW) == \
        "wrong_store"
    assert check_redeemable(c, CouponOrder("freshmart", "sh-01", 100, "m-1"), NOW) == \
        "wrong_brand"


def test_shared_campaign_code_works_for_anyone() -> None:
    t = CouponTemplate("t-c", "freshmart", "campaign", FixedOff(100))
    c = issue(t, "C", NOW)
    assert check_redeemable(c, CouponOrder("freshmart", "sh-9", 100, None), NOW) is None


def test_discounts() -> None:
    assert discount(welcome(), 5000) == 500
    assert discount(welcome(), 300) == 299  # one fen is still paid
    pct = issue(CouponTemplate("p", "freshmart", "birthday", PercentOff(15, 1000)), "P", NOW)
    assert discount(pct, 3333) == 499  # rounded down
    assert discount(pct, 100_000) == 1000  # ceiling
    with pytest.raises(ValueError):
        PercentOff(0, 100)
    with pytest.raises(ValueError):
        FixedOff(0)


value_st = st.one_of(st.builds(FixedOff, st.integers(1, 10**6)),
                     st.builds(PercentOff, st.integers(1, 100), st.integers(1, 10**6)))


@given(value_st, st.integers(-10, 10**7))
def test_discount_is_bounded(value: FixedOff | PercentOff, payable: int) -> None:
    c = issue(CouponTemplate("t", "b", "campaign", value), "C", NOW)
    off = discount(c, payable)
    assert off >= 0
    if off:
        assert payable - off >= 1
    if isinstance(value, FixedOff):
        assert off <= value.fen
    else:
        assert off <= value.max_off_fen and off * 100 <= max(payable, 0) * value.percent
