"""Points spent as cash: caps, steps, the 1-fen floor and refunds."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.loyalty.redemption import (
    Redemption,
    RedemptionRules,
    quote,
    refund_reversal,
)

RULES = RedemptionRules(points_per_yuan=100, step_points=100, max_percent=50, max_fen=5000)


def test_points_buy_the_requested_discount() -> None:
    assert quote(5000, 1000, 10000, RULES) == Redemption(1000, 1000, "requested")


def test_never_more_than_the_balance_rounded_to_a_step() -> None:
    assert quote(950, 2000, 10000, RULES) == Redemption(900, 900, "step")
    assert quote(800, 2000, 10000, RULES) == Redemption(800, 800, "balance")


def test_capped_at_a_percentage_of_the_payable() -> None:
    assert quote(100_000, 100_000, 3000, RULES) == Redemption(1500, 1500, "percent_cap")


def test_capped_at_an_absolute_amount() -> None:
    assert quote(100_000, 100_000, 50_000, RULES) == Redemption(5000, 5000, "absolute_cap")


def test_a_payment_of_at_least_one_fen_always_remains() -> None:
    rules = RedemptionRules(points_per_yuan=100, step_points=1, max_percent=100)
    assert quote(10_000, 10_000, 1000, rules) == Redemption(999, 999, "min_payable")
    assert quote(10_000, 10_000, 1, rules) == Redemption(0, 0, "min_payable")
    assert quote(10_000, 10_000, 0, rules).points_used == 0


def test_other_rates_give_whole_fen() -> None:
    rules = RedemptionRules(points_per_yuan=200, step_points=2, max_percent=100)
    assert quote(1001, 1001, 10_000, rules) == Redemption(1000, 500, "step")
    with pytest.raises(ValueError, match="whole number of fen"):
        RedemptionRules(points_per_yuan=200, step_points=1)


def test_negative_request_is_refused_and_negative_balance_buys_nothing() -> None:
    with pytest.raises(ValueError):
        quote(100, -1, 1000, RULES)
    assert quote(-500, 1000, 10_000, RULES).points_used == 0


def _rules(rate: int, step: int, percent: int, max_fen: int | None) -> RedemptionRules:
    # make the step a whole number of fen at this rate
    while step * 100 % rate:
        step += 1
    return RedemptionRules(rate, step, percent, max_fen)


rules_st = st.builds(_rules, st.sampled_from([1, 10, 50, 100, 200, 1000]),
                     st.integers(1, 500), st.integers(0, 100), st.none() | st.integers(0, 10**5))


@settings(max_examples=300, deadline=None)
@given(st.integers(-1000, 10**7), st.integers(0, 10**7), st.integers(0, 10**7), rules_st)
def test_quote_never_exceeds_any_limit(balance: int, requested: int, payable: int,
                                       rules: RedemptionRules) -> None:
    got = quote(balance, requested, payable, rules)
    assert 0 <= got.points_used <= min(requested, max(balance, 0))
    assert got.points_used % rules.step_points == 0
    assert got.discount_fen * rules.points_per_yuan == got.points_used * 100
    assert got.discount_fen <= payable * rules.max_percent // 100
    if rules.max_fen is not None:
        assert got.discount_fen <= rules.max_fen
    if got.discount_fen:
        assert payable - got.discount_fen >= 1
    # the most allowed: one more step would exceed what was asked, the balance or a cap
    more = got.points_used + rules.step_points
    cap = min(payable * rules.max_percent // 100, payable - 1,
              rules.max_fen if rules.max_fen is not None else payable)
    assert (more > min(requested, balance)
            or got.discount_fen + rules.fen_per_step > cap)


def test_full_refund_gives_back_all_redeemed_points_and_takes_earned_ones() -> None:
    got = refund_reversal(points_used=1500, points_earned=85, paid_fen=8500,
                          refunded_before_fen=0, refund_fen=8500)
    assert (got.points_returned, got.points_revoked) == (1500, 85)


def test_partial_refund_is_proportional_and_rounds_for_the_store() -> None:
    got = refund_reversal(points_used=1000, points_earned=33, paid_fen=3000,
                          refunded_before_fen=0, refund_fen=1000)
    assert (got.points_returned, got.points_revoked) == (333, 11)
    with pytest.raises(ValueError):
        refund_reversal(points_used=1, points_earned=1, paid_fen=100,
                        refunded_before_fen=50, refund_fen=51)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(1, 10**6), st.data())
def test_successive_refunds_add_up_to_the_full_reversal(used: int, earned: int, paid: int,
                                                        data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, paid), max_size=6)))
    bounds = [0, *cuts, paid]
    returned = revoked = 0
    for before, after in pairwise(bounds):
        step = refund_reversal(points_used=used, points_earned=earned, paid_fen=paid,
                               refunded_before_fen=before, refund_fen=after - before)
        assert step.points_returned >= 0 and step.points_revoked >= 0
        returned += step.points_returned
        revoked += step.points_revoked
        assert returned <= used and revoked <= earned
    assert (returned, revoked) == (used, earned)
