"""Calendar rules of the daily loyalty jobs (pure): tier reviews, points expiry, birthdays.

* Tier review: a tier earned (or confirmed) at a moment is next reviewed at local midnight of
  the same date a year later (`next_review_ms`; 29 February falls on 28 February), which is
  exactly when `tiers.review_due` turns true. The lowest tier is never reviewed (it cannot
  go down).
* Points expiry: points credited before `expired_before_ms(now)` have expired by `now` (with
  `expiry.expires_at`'s end-of-month rule), so only memberships holding credits older than that
  need looking at. `due_expiry` says how many points to debit now and the expiry date the debit
  is named after (the latest expiry date among the lots it consumes), so one debit per
  membership and expiry date, however often the job runs.
* Birthdays: members born on the store-local date's 'MM-DD' get their coupon that day; those
  born on 29 February get it on 28 February in years without one (`birthday_keys`), so every
  member gets exactly one birthday a year. The coupon's issue ref is 'member:year'.
* Ledger kinds of the storage map onto `expiry`'s (`EXPIRY_KINDS`): a refund reversal revokes,
  a returned redeem is a credit.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from broker.loyalty.expiry import EntryKind, LedgerEntry, replay
from broker.loyalty.local_time import add_months, local_date, midnight_ms

EXPIRY_KINDS: dict[str, EntryKind] = {
    "earn": "earn", "redeem_return": "return", "redeem": "redeem",
    "refund_reversal": "revoke", "expire": "expire", "adjust": "adjust",
}


def next_review_ms(at_ms: int, tz: str) -> int:
    """When a tier set at `at_ms` is next reviewed: local midnight one year later."""
    return midnight_ms(add_months(local_date(at_ms, tz), 12), tz)


def expired_before_ms(now_ms: int, tz: str, months: int) -> int:
    """Points credited before this moment have expired by `now_ms` (those at or after have not)."""
    if months < 0:
        raise ValueError("months must not be negative")
    this_month = local_date(now_ms, tz).replace(day=1)
    return midnight_ms(add_months(this_month, -months), tz)


@dataclass(frozen=True, slots=True)
class ExpiryDue:
    points: int
    expiry_day: date  # the store-local date the latest of the consumed lots expired on


def due_expiry(entries: Iterable[LedgerEntry], now_ms: int, tz: str,
               months: int) -> ExpiryDue | None:
    """Points to debit as `expire` at `now_ms`, or None when nothing new has expired."""
    lots, _ = replay(entries, now_ms, tz, months)
    expired = [lot for lot in lots if lot.expires_ms <= now_ms]
    points = sum(lot.remaining for lot in expired)
    if points <= 0:
        return None
    return ExpiryDue(points, local_date(max(lot.expires_ms for lot in expired), tz))


def birthday_keys(day: date) -> tuple[str, ...]:
    """The 'MM-DD' birthdays celebrated on local date `day`."""
    key = f"{day.month:02d}-{day.day:02d}"
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        return (key, "02-29")
    return (key,)


def birthday_ref(member_id: str, day: date) -> str:
    """The exactly-once key of a member's birthday coupon in the year of `day`."""
    return f"{member_id}:{day.year}"
