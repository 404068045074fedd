"""Points earned on a purchase: rates, multipliers, caps, local dates and rounding."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.loyalty.accrual import AccrualRules, Campaign, OrderLine, points_for

TZ = "Asia/Shanghai"
# Tuesday 3 June 2025, 10:00 in Shanghai
TUESDAY = int(datetime(2025, 6, 3, 2, 0, tzinfo=UTC).timestamp() * 1000)
F = Fraction


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def earn(lines: list[OrderLine], paid: int, rules: AccrualRules, tier: str = "member",
         store: str = "sh-01", at: int = TUESDAY) -> int:
    return points_for(lines, paid, rules, tier=tier, store_id=store, store_tz=TZ,
                      at_ms=at).total


BASIC = AccrualRules("freshmart")


def test_one_point_per_whole_yuan_paid() -> None:
    assert earn([OrderLine("A", "dairy", 1299)], 1299, BASIC) == 12
    assert earn([OrderLine("A", "dairy", 99)], 99, BASIC) == 0


def test_cheap_lines_add_up_before_rounding() -> None:
    lines = [OrderLine(f"s{i}", "snacks", 60) for i in range(3)]
    result = points_for(lines, 180, BASIC, tier="member", store_id="sh-01", store_tz=TZ,
                        at_ms=TUESDAY)
    assert result.total == 1
    assert sum(line.points for line in result.lines) == 1


def test_category_multiplier_and_discount_spread_over_lines() -> None:
    rules = AccrualRules("freshmart", category_multipliers={"fresh": F(2)})
    lines = [OrderLine("veg", "fresh", 6000), OrderLine("milk", "dairy", 4000)]
    assert earn(lines, 10000, rules) == 160
    # a 50 yuan discount: each line keeps its share of what was actually paid
    result = points_for(lines, 5000, rules, tier="member", store_id="sh-01", store_tz=TZ,
                        at_ms=TUESDAY)
    assert [line.paid_fen for line in result.lines] == [3000, 2000]
    assert [line.points for line in result.lines] == [60, 20]
    assert result.total == 80
    assert result.lines[0].reason == "fresh x2"
    assert result.lines[1].reason == "base x1"


def test_zero_multiplier_category_earns_nothing() -> None:
    rules = AccrualRules("freshmart", category_multipliers={"tobacco": F(0)})
    lines = [OrderLine("cig", "tobacco", 3000), OrderLine("milk", "dairy", 1000)]
    assert earn(lines, 4000, rules) == 10


def test_zero_payment_earns_zero() -> None:
    rules = AccrualRules("freshmart", category_multipliers={"fresh": F(3)})
    result = points_for([OrderLine("veg", "fresh", 5000)], 0, rules, tier="gold",
                        store_id="sh-01", store_tz=TZ, at_ms=TUESDAY)
    assert result.total == 0 and result.lines[0].points == 0


def test_payment_above_the_goods_earns_only_on_the_goods() -> None:
    assert earn([OrderLine("A", "dairy", 1000)], 5000, BASIC) == 10


def test_campaign_uses_the_store_local_date_and_its_scope() -> None:
    campaign = Campaign("june-fresh", F(3), date(2025, 6, 2), date(2025, 6, 2),
                        categories=frozenset({"fresh"}), store_ids=frozenset({"sh-01"}))
    rules = AccrualRules("freshmart", campaigns=(campaign,), max_multiplier=F(5))
    line = [OrderLine("veg", "fresh", 1000)]
    # 1 June 16:30 UTC is 2 June 00:30 in Shanghai: the campaign runs
    assert earn(line, 1000, rules, at=ms(2025, 6, 1, 16, 30)) == 30
    assert earn(line, 1000, rules, at=ms(2025, 6, 1, 15, 30)) == 10  # still 1 June there
    assert earn(line, 1000, rules, at=ms(2025, 6, 2, 3), store="sh-02") == 10
    assert earn([OrderLine("milk", "dairy", 1000)], 1000, rules, at=ms(2025, 6, 2, 3)) == 10


def test_campaigns_do_not_stack_with_each_other() -> None:
    day = date(2025, 6, 3)
    rules = AccrualRules("freshmart", max_multiplier=F(10), campaigns=(
        Campaign("a", F(2), day, day), Campaign("b", F("1.5"), day, day)))
    result = points_for([OrderLine("A", "dairy", 1000)], 1000, rules, tier="member",
                        store_id="sh-01", store_tz=TZ, at_ms=TUESDAY)
    assert result.total == 20
    assert result.lines[0].reason == "a x2"


def test_double_points_weekday_and_date_in_store_time() -> None:
    rules = AccrualRules("freshmart", promo_weekdays=frozenset({1}),
                         promo_dates=frozenset({date(2025, 6, 7)}))
    line = [OrderLine("A", "dairy", 1000)]
    assert earn(line, 1000, rules, at=TUESDAY) == 20
    assert earn(line, 1000, rules, at=ms(2025, 6, 4, 2)) == 10  # Wednesday
    assert earn(line, 1000, rules, at=ms(2025, 6, 6, 17)) == 20  # 7 June 01:00 local
    # Monday 23:30 UTC is already Tuesday in Shanghai
    assert earn(line, 1000, rules, at=ms(2025, 6, 2, 23, 30)) == 20


def test_tier_multiplier_and_cap_on_stacking() -> None:
    rules = AccrualRules("freshmart", category_multipliers={"fresh": F(2)},
                         promo_weekdays=frozenset({1}), tier_multipliers={"gold": F("1.5")},
                         max_multiplier=F(3))
    assert earn([OrderLine("milk", "dairy", 1000)], 1000, rules, tier="gold",
                at=ms(2025, 6, 4, 2)) == 15
    result = points_for([OrderLine("veg", "fresh", 1000)], 1000, rules, tier="gold",
                        store_id="sh-01", store_tz=TZ, at_ms=TUESDAY)
    assert result.total == 30  # 2 x 2 x 1.5 = 6, capped at 3
    line = result.lines[0]
    assert line.capped and line.multiplier == 3
    assert line.reason == "fresh x2, double-points day x2, gold x1.5 (capped at x3)"


def test_decimal_multipliers_are_exact() -> None:
    # 0.29 x 100 is 28.999999999999996 in binary floating point
    rules = AccrualRules("freshmart", category_multipliers={"promo": 0.29})  # type: ignore[dict-item]
    assert earn([OrderLine("A", "promo", 10000)], 10000, rules) == 29


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        earn([OrderLine("A", "dairy", 100)], -1, BASIC)
    with pytest.raises(ValueError):
        earn([OrderLine("A", "dairy", -100)], 0, BASIC)
    with pytest.raises(ValueError):
        AccrualRules("x", category_multipliers={"a": F(-1)})
    with pytest.raises(ValueError, match="timezone"):
        points_for([], 0, BASIC, tier="member", store_id="s", store_tz="Mars/Olympus", at_ms=0)


CATEGORIES = ["fresh", "dairy", "tobacco", "snacks"]
lines_st = st.lists(st.builds(OrderLine, st.text(max_size=3), st.sampled_from(CATEGORIES),
                              st.integers(0, 200_000)), min_size=0, max_size=8)
mult_st = st.fractions(min_value=0, max_value=5, max_denominator=20)
rules_st = st.builds(
    AccrualRules, st.just("freshmart"),
    points_per_yuan=st.sampled_from([F(1), F(2), F(1, 2)]),
    category_multipliers=st.dictionaries(st.sampled_from(CATEGORIES), mult_st, max_size=4),
    promo_weekdays=st.frozensets(st.integers(0, 6)),
    tier_multipliers=st.dictionaries(st.sampled_from(["gold", "silver"]), mult_st),
    max_multiplier=mult_st)


@settings(max_examples=200, deadline=None)
@given(lines_st, st.integers(0, 2_000_000), rules_st, st.sampled_from(["member", "gold"]),
       st.integers(0, 4_000_000_000_000))
def test_points_invariants(lines: list[OrderLine], paid: int, rules: AccrualRules, tier: str,
                           at: int) -> None:
    result = points_for(lines, paid, rules, tier=tier, store_id="sh-01", store_tz=TZ, at_ms=at)
    goods = sum(line.amount_fen for line in lines)
    assert result.total >= 0
    assert all(line.points >= 0 for line in result.lines)
    assert sum(line.points for line in result.lines) == result.total
    assert sum(line.paid_fen for line in result.lines) == min(paid, goods)
    assert all(line.multiplier <= rules.max_multiplier for line in result.lines)
    bound = F(min(paid, goods), 100) * rules.points_per_yuan * rules.max_multiplier
    assert result.total <= bound
    if paid == 0:
        assert result.total == 0


@settings(max_examples=200, deadline=None)
@given(lines_st, st.integers(0, 2_000_000), st.integers(1, 5_000), rules_st)
def test_paying_more_never_earns_fewer_points(lines: list[OrderLine], paid: int, extra: int,
                                              rules: AccrualRules) -> None:
    less = points_for(lines, paid, rules, tier="gold", store_id="sh-01", store_tz=TZ,
                      at_ms=TUESDAY)
    more = points_for(lines, paid + extra, rules, tier="gold", store_id="sh-01", store_tz=TZ,
                      at_ms=TUESDAY)
    assert more.total >= less.total
