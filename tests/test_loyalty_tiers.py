"""Member tiers: thresholds, immediate upgrades, downgrades only at the yearly review."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.loyalty.tiers import (
    DEFAULT_LADDER,
    TierLadder,
    review,
    review_due,
    rolling_spend,
    tier_for,
    upgrade,
    window_start_ms,
)

TZ = "Asia/Shanghai"
TIERS = ["member", "silver", "gold"]


def local_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def test_thresholds() -> None:
    assert tier_for(0) == "member"
    assert tier_for(199_999) == "member"
    assert tier_for(200_000) == "silver"
    assert tier_for(799_999) == "silver"
    assert tier_for(800_000) == "gold"


def test_upgrade_is_immediate_and_never_lowers() -> None:
    assert upgrade("member", 250_000) == "silver"
    assert upgrade("gold", 1000) == "gold"


def test_only_a_due_review_downgrades() -> None:
    assert review("gold", 300_000, review_due=False) == "gold"
    assert review("gold", 300_000, review_due=True) == "silver"
    assert review("gold", 0, review_due=True) == "member"
    assert review("member", 900_000, review_due=False) == "gold"
    with pytest.raises(ValueError):
        review("platinum", 0, review_due=True)


def test_review_falls_due_on_the_local_anniversary() -> None:
    last = local_ms(2024, 3, 10, 9)
    assert not review_due(last, local_ms(2025, 3, 9, 23, 59), TZ)
    assert review_due(last, local_ms(2025, 3, 10, 0, 0), TZ)
    leap = local_ms(2024, 2, 29, 12)
    assert review_due(leap, local_ms(2025, 2, 28, 0, 1), TZ)


def test_rolling_window_counts_the_last_twelve_months_in_store_time() -> None:
    now = local_ms(2025, 6, 15, 10)
    assert window_start_ms(now, TZ) == local_ms(2024, 6, 15)
    purchases = [(local_ms(2024, 6, 14, 23, 59), 50_000), (local_ms(2024, 6, 15, 0, 0), 70_000),
                 (local_ms(2025, 1, 1), 150_000), (local_ms(2025, 2, 1), -20_000),
                 (local_ms(2025, 6, 15, 11), 99_999)]  # after `now`: not yet
    assert rolling_spend(purchases, now, TZ) == 200_000


def test_ladder_validation() -> None:
    with pytest.raises(ValueError):
        TierLadder((("member", 100), ("gold", 200)))
    with pytest.raises(ValueError):
        TierLadder((("member", 0), ("gold", 200), ("vip", 200)))
    custom = TierLadder((("basic", 0), ("vip", 50_000)))
    assert tier_for(60_000, custom) == "vip"


rank = DEFAULT_LADDER.rank
spend = st.integers(-10**6, 10**8)


@given(spend, spend)
def test_more_spend_never_earns_a_lower_tier(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert rank(tier_for(low)) <= rank(tier_for(high))


@given(st.sampled_from(TIERS), spend, spend, st.booleans())
def test_review_is_monotonic_in_spend(current: str, a: int, b: int, due: bool) -> None:
    low, high = sorted((a, b))
    assert rank(review(current, low, due)) <= rank(review(current, high, due))


@given(st.sampled_from(TIERS), spend)
def test_no_downgrade_between_reviews(current: str, s: int) -> None:
    assert rank(review(current, s, review_due=False)) >= rank(current)
    assert rank(upgrade(current, s)) >= rank(current)
    assert review(current, s, review_due=True) == tier_for(s)
