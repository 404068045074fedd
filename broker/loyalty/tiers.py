"""Member tiers by spend over a rolling 12 months.

* A `TierLadder` lists tiers from lowest to highest with the spend (fen) that reaches each; the
  lowest starts at 0. Default: member < 2,000 yuan <= silver < 8,000 yuan <= gold.
* `tier_for(spend)` is the highest tier whose threshold the spend reaches.
* Upgrades are immediate: after every purchase `upgrade(current, spend)` returns the higher of
  the current tier and the tier the spend earns; it never lowers a tier.
* Downgrades only happen at the yearly review: `review(current, spend, review_due=True)` sets
  the tier the last 12 months of spend earn (up or down, straight to it);
  with `review_due=False` it behaves like `upgrade`.
* The review is due (`review_due`) once the store-local date reaches the anniversary of the
  last review (29 February anniversaries fall on 28 February).
* The rolling window (`window_start_ms`) starts at local midnight of the same date one year
  before the current local date; spend at or after it counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from broker.loyalty.local_time import add_months, local_date, midnight_ms


@dataclass(frozen=True, slots=True)
class TierLadder:
    """Tiers lowest first as (name, minimum 12-month spend in fen)."""

    tiers: tuple[tuple[str, int], ...] = (("member", 0), ("silver", 200_000), ("gold", 800_000))

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", tuple((str(n), int(s)) for n, s in self.tiers))
        if not self.tiers or self.tiers[0][1] != 0:
            raise ValueError("the lowest tier must start at 0 spend")
        names = [name for name, _ in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        spends = [spend for _, spend in self.tiers]
        if any(b <= a for a, b in pairwise(spends)):
            raise ValueError("tier thresholds must strictly increase")

    def rank(self, tier: str) -> int:
        """Position of `tier`, 0 for the lowest; ValueError for an unknown tier."""
        for i, (name, _) in enumerate(self.tiers):
            if name == tier:
                return i
        raise ValueError(f"unknown tier {tier!r}")


DEFAULT_LADDER = TierLadder()


def tier_for(spend_fen: int, ladder: TierLadder = DEFAULT_LADDER) -> str:
    """The tier that `spend_fen` of 12-month spend earns."""
    earned = ladder.tiers[0][0]
    for name, threshold in ladder.tiers:
        if spend_fen >= threshold:
            earned = name
    return earned


def upgrade(current_tier: str, spend_last_12m: int, ladder: TierLadder = DEFAULT_LADDER) -> str:
    """The tier after a purchase: raised at once when the spend earns more, never lowered."""
    earned = tier_for(spend_last_12m, ladder)
    return max(current_tier, earned, key=ladder.rank)


def review(current_tier: str, spend_last_12m: int, review_due: bool,
           ladder: TierLadder = DEFAULT_LADDER) -> str:
    """The tier at a (possibly due) yearly review: only a due review can lower it."""
    if review_due:
        ladder.rank(current_tier)
        return tier_for(spend_last_12m, ladder)
    return upgrade(current_tier, spend_last_12m, ladder)


def review_due(last_review_ms: int, now_ms: int, tz: str) -> bool:
    """True once the store-local date reaches the anniversary of the last review."""
    return local_date(now_ms, tz) >= add_months(local_date(last_review_ms, tz), 12)


def window_start_ms(now_ms: int, tz: str) -> int:
    """First instant of the rolling 12-month spend window ending at `now_ms`."""
    return midnight_ms(add_months(local_date(now_ms, tz), -12), tz)


def rolling_spend(purchases: Iterable[tuple[int, int]], now_ms: int, tz: str) -> int:
    """Net spend (fen; refunds negative) of (at_ms, amount_fen) purchases in the window."""
    start = window_start_ms(now_ms, tz)
    return sum(amount for at, amount in purchases if start <= at <= now_ms)
