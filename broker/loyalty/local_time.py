"""Store-local calendar arithmetic for loyalty rules (pure; the IANA zone name is passed in).

A moment is UTC epoch milliseconds; a store-local date is the date on the store's wall clock
at that moment. `midnight_ms` is the first instant of a local date (where a daylight-saving
jump skips midnight it is the instant of the jump; where midnight repeats it is the first one).
Month arithmetic clamps the day to the target month's length (31 March + 1 month = 30 April).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The zone called `name`; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def local_date(t_ms: int, tz: str) -> date:
    """The store-local date at the moment `t_ms`."""
    return datetime.fromtimestamp(t_ms // 1000, tz=zone(tz)).date()


def midnight_ms(day: date, tz: str) -> int:
    """UTC epoch ms of the first instant of local date `day`."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone(tz))
    return int(start.timestamp()) * 1000


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, the day clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))
