"""Money and ratio helpers shared by the loyalty rules.

* `MIN_PAYABLE_FEN` (1 fen): no discount (points or coupon) may take an order below it. A real
  wallet or card payment must still happen, because that payment is what identifies the payer
  (it is the credential that pay-as-membership, points crediting and fraud checks key on), and
  payment providers refuse zero-amount trades.
* `apportion(total, weights)`: split a whole number over weights by largest remainder; the
  shares add up to `total` exactly, each share is its exact proportional value rounded down or
  up by less than one, ties go to the earlier weight, and a zero weight gets nothing.
* `ratio(value)`: a multiplier as an exact `Fraction` (a float is read through its decimal text,
  so 1.1 is 11/10, not the nearest binary double).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

MIN_PAYABLE_FEN = 1
FEN_PER_YUAN = 100


def ratio(value: Fraction | int | float | str) -> Fraction:
    """`value` as an exact fraction; ValueError for NaN, infinities and non-numbers."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(repr(value))
    if isinstance(value, int | str):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    raise ValueError(f"not a number: {value!r}")


def apportion(total: int, weights: Sequence[int | Fraction]) -> tuple[int, ...]:
    """Split `total` (>= 0) over non-negative `weights` by largest remainder."""
    if total < 0:
        raise ValueError("total must not be negative")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    whole = sum((Fraction(w) for w in weights), Fraction(0))
    if whole == 0:
        if total:
            raise ValueError("cannot spread a non-zero total over zero weights")
        return (0,) * len(weights)
    exact = [total * Fraction(w) / whole for w in weights]
    shares = [math.floor(x) for x in exact]
    left = total - sum(shares)
    by_remainder = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return tuple(shares)
