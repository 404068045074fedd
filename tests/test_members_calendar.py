"""The calendar rules of the loyalty jobs: review dates, the expiry horizon, expiry debits that
are idempotent and never overdraw, one birthday a year for everyone."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from broker.loyalty.expiry import LedgerEntry, balance, expired_to_debit, expires_at
from broker.loyalty.job_calendar import (
    birthday_keys,
    due_expiry,
    expired_before_ms,
    next_review_ms,
)
from broker.loyalty.local_time import local_date
from broker.loyalty.tiers import review_due

TZ = "Asia/Shanghai"
ZONES = st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"])
MOMENTS = st.integers(min_value=1_500_000_000_000, max_value=2_000_000_000_000)
DAY = 86_400_000


@given(at=MOMENTS, later=st.integers(min_value=0, max_value=800 * DAY), tz=ZONES)
def test_the_next_review_is_when_the_review_falls_due(at: int, later: int, tz: str) -> None:
    now = at + later
    assert review_due(at, now, tz) == (now >= next_review_ms(at, tz))


@given(credited=MOMENTS, gap=st.integers(min_value=0, max_value=1200 * DAY), tz=ZONES,
       months=st.integers(min_value=0, max_value=36))
def test_the_expiry_horizon_separates_expired_credits(credited: int, gap: int, tz: str,
                                                      months: int) -> None:
    now = credited + gap
    expired = expires_at(credited, tz, months) <= now
    assert expired == (credited < expired_before_ms(now, tz, months))


def _entries() -> st.SearchStrategy[list[LedgerEntry]]:
    credit = st.builds(LedgerEntry, MOMENTS, st.integers(1, 500), st.sampled_from(
        ["earn", "return"]))
    debit = st.builds(LedgerEntry, MOMENTS, st.integers(-500, -1), st.sampled_from(
        ["redeem", "revoke", "spend"]))
    return st.lists(st.one_of(credit, credit, debit), max_size=25)


@given(entries=_entries(), now=MOMENTS, months=st.integers(min_value=0, max_value=24))
def test_an_expiry_debit_is_idempotent_and_never_overdraws(entries: list[LedgerEntry],
                                                           now: int, months: int) -> None:
    due = due_expiry(entries, now, TZ, months)
    if due is None:
        assert expired_to_debit(entries, now, TZ, months) == 0
        return
    assert due.points == expired_to_debit(entries, now, TZ, months)
    assert 0 < due.points <= balance(entries, now)
    assert due.expiry_day <= local_date(now, TZ)
    assert due.expiry_day.day == 1  # points expire as a month ends
    debited = [*entries, LedgerEntry(now, -due.points, "expire")]
    assert due_expiry(debited, now, TZ, months) is None


@given(year=st.integers(min_value=2000, max_value=2100))
def test_every_birthday_is_celebrated_exactly_once_a_year(year: int) -> None:
    celebrated: list[str] = []
    day = date(year, 1, 1)
    while day.year == year:
        celebrated.extend(birthday_keys(day))
        day += timedelta(days=1)
    every_birthday = {f"{m:02d}-{d:02d}" for m in range(1, 13)
                      for d in range(1, calendar.monthrange(2024, m)[1] + 1)}
    assert sorted(celebrated) == sorted(every_birthday)
