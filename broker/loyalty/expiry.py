"""Points expiry, first in first out.

* Points credited at a moment expire at the end of the Nth calendar month after the month they
  were credited in, on the store's wall clock (N = `months`; with N = 12, points earned on
  15 March 2025 expire when 31 March 2026 ends, i.e. at local midnight starting 1 April 2026).
  A lot is expired at `t` when `t >= expires_ms`.
* The ledger is a list of entries with signed points: credits (earn, return of redeemed points
  after a refund, positive adjustments) open a lot; debits (spend, redeem, expire, revoke,
  negative adjustments) consume the oldest lots first. Entries are replayed in time order
  (entries at the same millisecond in list order); entries after the moment asked about are
  ignored.
* A debit larger than what is left (a revoke after the points were spent) leaves a deficit,
  which later credits pay off before opening a lot; the balance can be negative then, and
  nothing expires while it is.
* `expired_to_debit(entries, now)` = points left in lots expired by `now`. Lots expire in the
  order they were opened, so they are the oldest ones and an `expire` debit of that amount
  appended at `now` consumes exactly them: asking again gives 0 (idempotent), it never exceeds
  the balance, and the total ever expired never exceeds what was credited.
* Run the expiry debit before a spend is checked against the balance; otherwise a spend made
  after a lot's expiry (but before the debit) may still use it, which is allowed (the member was
  shown that balance) and is accounted consistently: that lot simply has nothing left to expire.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from broker.loyalty.local_time import add_months, local_date, midnight_ms

EntryKind = Literal["earn", "return", "spend", "redeem", "expire", "revoke", "adjust"]
_CREDITS = frozenset({"earn", "return"})
_DEBITS = frozenset({"spend", "redeem", "expire", "revoke"})


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    at_ms: int
    points: int
    kind: EntryKind = "earn"

    def __post_init__(self) -> None:
        if self.kind in _CREDITS and self.points < 0:
            raise ValueError(f"a {self.kind} entry credits points (got {self.points})")
        if self.kind in _DEBITS and self.points > 0:
            raise ValueError(f"a {self.kind} entry debits points (got {self.points})")


@dataclass(frozen=True, slots=True)
class Lot:
    """Points credited together, what is left of them and when they expire."""

    credited_ms: int
    expires_ms: int
    remaining: int


def expires_at(credited_ms: int, tz: str, months: int) -> int:
    """UTC ms at which points credited at `credited_ms` expire."""
    if months < 0:
        raise ValueError("months must not be negative")
    credited = local_date(credited_ms, tz)
    return midnight_ms(add_months(credited.replace(day=1), months + 1), tz)


def replay(entries: Iterable[LedgerEntry], at_ms: int, tz: str,
           months: int) -> tuple[tuple[Lot, ...], int]:
    """(lots still holding points, deficit) after the entries up to `at_ms`."""
    lots: deque[list[int]] = deque()
    deficit = 0
    for entry in sorted((e for e in entries if e.at_ms <= at_ms), key=lambda e: e.at_ms):
        if entry.points > 0:
            paid_off = min(deficit, entry.points)
            deficit -= paid_off
            if entry.points > paid_off:
                lots.append([entry.at_ms, expires_at(entry.at_ms, tz, months),
                             entry.points - paid_off])
            continue
        owed = -entry.points
        while owed and lots:
            take = min(owed, lots[0][2])
            lots[0][2] -= take
            owed -= take
            if not lots[0][2]:
                lots.popleft()
        deficit += owed
    return tuple(Lot(c, e, r) for c, e, r in lots), deficit


def balance(entries: Iterable[LedgerEntry], at_ms: int) -> int:
    """Sum of the entries up to `at_ms`."""
    return sum(e.points for e in entries if e.at_ms <= at_ms)


def expiring(entries: Iterable[LedgerEntry], at_ms: int, tz: str,
             months: int) -> list[tuple[int, int]]:
    """Points still alive at `at_ms` as (expires_ms, points), soonest first (one per moment).

    Points already expired but not yet debited are not listed (see `expired_to_debit`).
    """
    lots, _ = replay(entries, at_ms, tz, months)
    schedule: dict[int, int] = {}
    for lot in lots:
        if lot.expires_ms > at_ms:
            schedule[lot.expires_ms] = schedule.get(lot.expires_ms, 0) + lot.remaining
    return sorted(schedule.items())


def expired_to_debit(entries: Iterable[LedgerEntry], now_ms: int, tz: str, months: int) -> int:
    """Points to debit as `expire` at `now_ms` (0 when nothing new has expired)."""
    lots, _ = replay(entries, now_ms, tz, months)
    return sum(lot.remaining for lot in lots if lot.expires_ms <= now_ms)
