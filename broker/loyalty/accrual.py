"""Points earned on a purchase (per brand rules).

Rules, in the order they are applied:

1. **What was paid, per line.** The amount actually paid (`paid_fen`, after coupons and points)
   is spread over the order lines in proportion to their amounts (largest remainder, so the
   line shares add up to the payment exactly). A payment above the goods total (fees, tips)
   earns nothing extra: it is capped at the goods total. A zero payment earns zero points.
2. **Multiplier per line** = category multiplier (e.g. fresh x2; 0 excludes a category such as
   tobacco) x the best campaign running on the store-local date whose store and category scope
   match (campaigns do not stack with each other) x the promotional-day multiplier when the
   store-local date is a double-points weekday or date x the member's tier multiplier
   (gold x1.5). The product is capped at `max_multiplier`, so promotions never stack beyond it.
3. **Rounding.** A line's exact points are its exact share of the payment in yuan x points per
   yuan x multiplier (the exact share, not the share rounded to fen, so paying more never earns
   fewer points). The order's total is the *floor of the sum* (fractions of a point never
   earn, but several cheap lines are not each rounded away); the total is then shared back
   over the lines by largest remainder so the per-line points add up to the total. Points are
   never negative.

All multipliers are exact fractions (`money.ratio`), so 1.1 x 3 is 3.3, not 3.3000000000000003.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Literal

from broker.loyalty.local_time import local_date
from broker.loyalty.money import FEN_PER_YUAN, apportion, ratio

FactorSource = Literal["category", "campaign", "promo_day", "tier"]


def _ratio_map(values: Mapping[str, Fraction]) -> dict[str, Fraction]:
    out = {str(k): ratio(v) for k, v in values.items()}
    if any(v < 0 for v in out.values()):
        raise ValueError("multipliers must not be negative")
    return out


@dataclass(frozen=True, slots=True)
class Campaign:
    """A points campaign: `multiplier` on store-local dates first_day..last_day (inclusive);
    `categories` / `store_ids` of None mean every category / every store of the brand."""

    name: str
    multiplier: Fraction
    first_day: date
    last_day: date
    categories: frozenset[str] | None = None
    store_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "multiplier", ratio(self.multiplier))
        if self.multiplier < 0:
            raise ValueError(f"campaign {self.name!r}: multiplier must not be negative")
        if self.last_day < self.first_day:
            raise ValueError(f"campaign {self.name!r}: last_day is before first_day")

    def applies(self, day: date, store_id: str, category: str) -> bool:
        return (self.first_day <= day <= self.last_day
                and (self.store_ids is None or store_id in self.store_ids)
                and (self.categories is None or category in self.categories))


@dataclass(frozen=True)
class AccrualRules:
    """One brand's earning rules (see the module docstring). Weekdays: Monday = 0."""

    brand_id: str
    points_per_yuan: Fraction = Fraction(1)
    category_multipliers: Mapping[str, Fraction] = field(default_factory=dict)
    campaigns: tuple[Campaign, ...] = ()
    promo_weekdays: frozenset[int] = frozenset()
    promo_dates: frozenset[date] = frozenset()
    promo_multiplier: Fraction = Fraction(2)
    tier_multipliers: Mapping[str, Fraction] = field(default_factory=dict)
    max_multiplier: Fraction = Fraction(3)

    def __post_init__(self) -> None:
        for name in ("points_per_yuan", "promo_multiplier", "max_multiplier"):
            value = ratio(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must not be negative")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "category_multipliers", _ratio_map(self.category_multipliers))
        object.__setattr__(self, "tier_multipliers", _ratio_map(self.tier_multipliers))
        object.__setattr__(self, "campaigns", tuple(self.campaigns))
        if any(not 0 <= d <= 6 for d in self.promo_weekdays):
            raise ValueError("promo_weekdays are 0 (Monday) .. 6 (Sunday)")


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order: its total (quantity x unit price) in fen."""

    sku: str
    category: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Factor:
    """One multiplier that applied to a line, and why."""

    source: FactorSource
    name: str
    multiplier: Fraction


@dataclass(frozen=True, slots=True)
class LinePoints:
    sku: str
    category: str
    paid_fen: int
    factors: tuple[Factor, ...]
    multiplier: Fraction
    capped: bool
    points: int

    @property
    def reason(self) -> str:
        """Human-readable reason, e.g. 'fresh x2, double-points day x2 (capped at x3)'."""
        parts = [f"{f.name} x{_fmt(f.multiplier)}" for f in self.factors] or ["base x1"]
        text = ", ".join(parts)
        return f"{text} (capped at x{_fmt(self.multiplier)})" if self.capped else text


@dataclass(frozen=True, slots=True)
class PointsBreakdown:
    total: int
    lines: tuple[LinePoints, ...]


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _factors(line: OrderLine, rules: AccrualRules, tier: str, store_id: str, day: date,
             promo_day: bool) -> tuple[Factor, ...]:
    found: list[Factor] = []
    category = rules.category_multipliers.get(line.category)
    if category is not None:
        found.append(Factor("category", line.category, category))
    running = [c for c in rules.campaigns if c.applies(day, store_id, line.category)]
    if running:
        best = max(running, key=lambda c: (c.multiplier, c.name))
        found.append(Factor("campaign", best.name, best.multiplier))
    if promo_day:
        found.append(Factor("promo_day", "double-points day", rules.promo_multiplier))
    tier_multiplier = rules.tier_multipliers.get(tier)
    if tier_multiplier is not None:
        found.append(Factor("tier", tier, tier_multiplier))
    return tuple(f for f in found if f.multiplier != 1)


def points_for(lines: Iterable[OrderLine], paid_fen: int,
               rules: AccrualRules, *, tier: str, store_id: str, store_tz: str,
               at_ms: int) -> PointsBreakdown:
    """Points for a purchase paid `paid_fen` at `at_ms` in store `store_id` (zone `store_tz`)."""
    lines = tuple(lines)
    if paid_fen < 0:
        raise ValueError("paid_fen must not be negative")
    if any(line.amount_fen < 0 for line in lines):
        raise ValueError("line amounts must not be negative")
    goods = sum(line.amount_fen for line in lines)
    counted = min(paid_fen, goods)
    paid_per_line = apportion(counted, [line.amount_fen for line in lines])
    day = local_date(at_ms, store_tz)
    promo_day = day.weekday() in rules.promo_weekdays or day in rules.promo_dates
    exact: list[Fraction] = []
    partial: list[tuple[OrderLine, int, tuple[Factor, ...], Fraction, bool]] = []
    for line, paid in zip(lines, paid_per_line, strict=True):
        factors = _factors(line, rules, tier, store_id, day, promo_day)
        multiplier = math.prod((f.multiplier for f in factors), start=Fraction(1))
        capped = multiplier > rules.max_multiplier
        if capped:
            multiplier = rules.max_multiplier
        # the exact share (not the rounded fen) so paying more never earns less
        share = Fraction(counted * line.amount_fen, goods * FEN_PER_YUAN) if goods else 0
        exact.append(share * rules.points_per_yuan * multiplier)
        partial.append((line, paid, factors, multiplier, capped))
    total = math.floor(sum(exact, Fraction(0)))
    shares = apportion(total, exact) if total else (0,) * len(lines)
    return PointsBreakdown(total, tuple(
        LinePoints(line.sku, line.category, paid, factors, multiplier, capped, points)
        for (line, paid, factors, multiplier, capped), points in zip(partial, shares,
                                                                     strict=True)))
