"""Points expiry: end of the Nth month in store time, FIFO, idempotent debits."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.loyalty.expiry import (
    LedgerEntry,
    balance,
    expired_to_debit,
    expires_at,
    expiring,
)

TZ = "Asia/Shanghai"


def local_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def test_points_expire_at_the_end_of_the_nth_month_after_earning() -> None:
    assert expires_at(local_ms(2025, 3, 15, 12), TZ, 12) == local_ms(2026, 4, 1)
    assert expires_at(local_ms(2025, 3, 31, 23, 59), TZ, 0) == local_ms(2025, 4, 1)
    # 31 January 17:00 UTC is already 1 February in Shanghai
    assert expires_at(local_ms(2025, 2, 1, 1), TZ, 12) == local_ms(2026, 3, 1)
    assert expires_at(local_ms(2025, 12, 5), TZ, 1) == local_ms(2026, 2, 1)


def test_expiry_is_local_midnight_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    earned = int(datetime(2025, 10, 20, 12, tzinfo=berlin).timestamp() * 1000)
    midnight = int(datetime(2025, 11, 1, tzinfo=berlin).timestamp() * 1000)
    assert expires_at(earned, "Europe/Berlin", 0) == midnight
    assert datetime.fromtimestamp(midnight / 1000, berlin).utcoffset() == timedelta(hours=1)


def test_fifo_spends_the_oldest_points_first() -> None:
    ledger = [LedgerEntry(local_ms(2025, 1, 10), 100),
              LedgerEntry(local_ms(2025, 3, 10), 50),
              LedgerEntry(local_ms(2025, 4, 10), -120, "spend")]
    assert expiring(ledger, local_ms(2025, 5, 1), TZ, 12) == [(local_ms(2026, 4, 1), 30)]
    # the January lot was spent entirely: nothing expires at the start of February 2026
    assert expired_to_debit(ledger, local_ms(2026, 2, 15), TZ, 12) == 0
    assert expired_to_debit(ledger, local_ms(2026, 4, 1), TZ, 12) == 30
    assert expired_to_debit(ledger, local_ms(2026, 3, 31, 23, 59), TZ, 12) == 0


def test_expiry_debit_is_idempotent_and_schedule_groups_by_moment() -> None:
    ledger = [LedgerEntry(local_ms(2025, 1, 3), 40), LedgerEntry(local_ms(2025, 1, 20), 60),
              LedgerEntry(local_ms(2025, 2, 2), 25)]
    assert expiring(ledger, local_ms(2025, 2, 10), TZ, 3) == [
        (local_ms(2025, 5, 1), 100), (local_ms(2025, 6, 1), 25)]
    now = local_ms(2025, 5, 2)
    due = expired_to_debit(ledger, now, TZ, 3)
    assert due == 100
    ledger.append(LedgerEntry(now, -due, "expire"))
    assert expired_to_debit(ledger, now, TZ, 3) == 0
    assert balance(ledger, now) == 25
    assert expiring(ledger, now, TZ, 3) == [(local_ms(2025, 6, 1), 25)]


def test_a_deficit_is_paid_off_before_new_points_can_expire() -> None:
    ledger = [LedgerEntry(local_ms(2025, 1, 1), 100), LedgerEntry(local_ms(2025, 1, 2), -100,
                                                                  "spend"),
              LedgerEntry(local_ms(2025, 1, 3), -30, "revoke"),  # refund after the spend
              LedgerEntry(local_ms(2025, 1, 4), 50)]
    assert balance(ledger, local_ms(2025, 6, 1)) == 20
    assert expired_to_debit(ledger, local_ms(2025, 6, 1), TZ, 1) == 20
    assert expired_to_debit(ledger[:3], local_ms(2025, 6, 1), TZ, 1) == 0


def test_entries_must_have_the_sign_of_their_kind() -> None:
    with pytest.raises(ValueError):
        LedgerEntry(0, -5, "earn")
    with pytest.raises(ValueError):
        LedgerEntry(0, 5, "spend")


DAY = 86_400_000
START = local_ms(2024, 1, 1)
# (days after the previous step, action, amount): earn, spend (part of the balance), expire run
steps_st = st.lists(st.tuples(st.integers(0, 120), st.sampled_from(["earn", "spend", "run"]),
                              st.integers(1, 500), st.floats(0, 1)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(steps_st, st.integers(0, 6))
def test_expiry_never_overdraws(steps: list[tuple[int, str, int, float]], months: int) -> None:
    ledger: list[LedgerEntry] = []
    t = START
    earned = expired = 0
    for gap, action, amount, fraction in steps:
        t += gap * DAY + 1
        if action == "earn":
            ledger.append(LedgerEntry(t, amount))
            earned += amount
        elif action == "spend":
            spend = int(balance(ledger, t) * fraction)
            if spend:
                ledger.append(LedgerEntry(t, -spend, "spend"))
        else:
            due = expired_to_debit(ledger, t, TZ, months)
            assert 0 <= due <= balance(ledger, t)
            if due:
                ledger.append(LedgerEntry(t, -due, "expire"))
                expired += due
            assert expired_to_debit(ledger, t, TZ, months) == 0
            alive = expiring(ledger, t, TZ, months)
            assert sum(points for _, points in alive) == balance(ledger, t)
            assert all(when > t for when, _ in alive)
        assert balance(ledger, t) >= 0
        assert expired <= earned
