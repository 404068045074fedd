"""Points spent as cash at checkout, and what a refund gives back.

Quote rules (`quote`):

* Rate: `points_per_yuan` points are worth 1 yuan (100 points = 1 yuan by default).
* Points are used in multiples of `step_points`; each step must be worth a whole number of fen
  (checked when the rules are built), so a discount is always exact, never rounded.
* The discount never exceeds: the member's balance, the points asked for, `max_percent` of
  the payable amount (rounded down), `max_fen` when set, and payable - `MIN_PAYABLE_FEN`
  (1 fen): the order must still be paid by wallet or card, because that payment identifies the
  payer (see `money.MIN_PAYABLE_FEN`). Every limit rounds down, against the member, by less
  than one step.
* `limited_by` says which limit decided the quote, so the terminal can explain it.

Refund rules (`refund_reversal`): a refund of `refund_fen` out of the order's wallet payment
gives back the same share of the points redeemed on it (rounded down: partial refunds never
give more than was used) and takes back the same share of the points earned on it (rounded
down: never takes more than was earned). Shares are computed on the cumulative refunded amount,
so successive partial refunds add up exactly to the full reversal once everything is refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.loyalty.money import FEN_PER_YUAN, MIN_PAYABLE_FEN

Limit = Literal["requested", "balance", "min_payable", "absolute_cap", "percent_cap", "step"]


@dataclass(frozen=True, slots=True)
class RedemptionRules:
    points_per_yuan: int = 100
    step_points: int = 100
    max_percent: int = 50
    max_fen: int | None = None

    def __post_init__(self) -> None:
        if self.points_per_yuan < 1 or self.step_points < 1:
            raise ValueError("points_per_yuan and step_points must be at least 1")
        if self.step_points * FEN_PER_YUAN % self.points_per_yuan:
            raise ValueError(f"a step of {self.step_points} points is not a whole number of "
                             f"fen at {self.points_per_yuan} points per yuan")
        if not 0 <= self.max_percent <= 100:
            raise ValueError("max_percent must be within 0..100")
        if self.max_fen is not None and self.max_fen < 0:
            raise ValueError("max_fen must not be negative")

    @property
    def fen_per_step(self) -> int:
        return self.step_points * FEN_PER_YUAN // self.points_per_yuan


@dataclass(frozen=True, slots=True)
class Redemption:
    points_used: int
    discount_fen: int
    limited_by: Limit


def quote(balance: int, requested_points: int, payable_fen: int,
          rules: RedemptionRules) -> Redemption:
    """The points actually used (and the discount) when `requested_points` are asked for."""
    if requested_points < 0:
        raise ValueError("requested_points must not be negative")
    limits: list[tuple[int, Limit]] = [
        (requested_points, "requested"),
        (max(balance, 0), "balance"),
        (_points_worth(payable_fen - MIN_PAYABLE_FEN, rules), "min_payable"),
    ]
    if rules.max_fen is not None:
        limits.append((_points_worth(rules.max_fen, rules), "absolute_cap"))
    limits.append((_points_worth(payable_fen * rules.max_percent // 100, rules), "percent_cap"))
    most, limited_by = min(limits, key=lambda item: item[0])  # first of equal limits wins
    steps = most // rules.step_points
    if steps * rules.step_points < most:
        limited_by = "step"
    return Redemption(steps * rules.step_points, steps * rules.fen_per_step, limited_by)


def _points_worth(fen: int, rules: RedemptionRules) -> int:
    """Whole points worth at most `fen` (0 for a non-positive amount)."""
    return max(fen, 0) * rules.points_per_yuan // FEN_PER_YUAN


@dataclass(frozen=True, slots=True)
class RefundReversal:
    points_returned: int
    points_revoked: int


def refund_reversal(*, points_used: int, points_earned: int, paid_fen: int,
                    refunded_before_fen: int, refund_fen: int) -> RefundReversal:
    """Points to give back (redeemed) and take back (earned) for one refund of an order."""
    if min(points_used, points_earned, paid_fen, refunded_before_fen, refund_fen) < 0:
        raise ValueError("amounts must not be negative")
    if refunded_before_fen + refund_fen > paid_fen:
        raise ValueError("refunds exceed what was paid")

    def share(points: int, refunded: int) -> int:
        return points if refunded >= paid_fen else points * refunded // paid_fen

    after = refunded_before_fen + refund_fen
    return RefundReversal(
        share(points_used, after) - share(points_used, refunded_before_fen),
        share(points_earned, after) - share(points_earned, refunded_before_fen))
