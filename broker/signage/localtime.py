"""Store-local wall-clock arithmetic for flights and dayparts (pure, cached).

Playlists are cut in UTC hours; campaigns speak in a store's local dates and hours. A UTC hour
is *eligible* for a campaign in a timezone when every local minute of it lies inside the
flight dates and the dayparts (for whole-hour offsets that is simply "its local hour is a
daypart hour on a flight date"; in half-hour zones such as Asia/Kolkata an hour straddles two
local hours and both must be booked). An hour counts towards the local date it starts on.

Dayparts are held as seven 24-bit masks, one per weekday (Monday = 0): bit h set means the
local hour h..h+1 is booked. Counting eligible hours over long flights is O(weeks) arithmetic,
with exact enumeration only on days whose offset changes (daylight saving transitions) and in
zones whose offset is not a whole number of hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOUR_MS = 3_600_000
FULL_DAY = (1 << 24) - 1
ALL_HOURS: tuple[int, ...] = (FULL_DAY,) * 7

Masks = tuple[int, ...]
# (start day ordinal, weekday, hour, end day ordinal, end weekday, end hour) of one UTC hour
Slot = tuple[int, int, int, int, int, int]


def masks_of(dayparts: Iterable[tuple[int, int]]) -> Masks:
    """Seven 24-bit weekday masks from (weekday, hour) pairs."""
    masks = [0] * 7
    for weekday, hour in dayparts:
        masks[weekday] |= 1 << hour
    return tuple(masks)


def slot_eligible(slot: Slot, first_day: int, last_day: int, masks: Masks) -> bool:
    """True when the whole UTC hour `slot` lies within the flight days and the dayparts."""
    day, weekday, hour, end_day, end_weekday, end_hour = slot
    if not first_day <= day <= last_day or not masks[weekday] >> hour & 1:
        return False
    if end_day == day and end_hour == hour:
        return True
    return first_day <= end_day <= last_day and bool(masks[end_weekday] >> end_hour & 1)


class TzCalendar:
    """Local-time facts about UTC hours in one IANA zone (use `calendar(name)`, it is cached)."""

    def __init__(self, name: str) -> None:
        try:
            self.zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {name!r}") from exc
        self.name = name
        self._slots: dict[int, Slot] = {}
        self._irregular_years: dict[int, frozenset[int]] = {}
        self._day_hours: dict[int, tuple[int, ...]] = {}

    def slot(self, hour_index: int) -> Slot:
        """Local position of the UTC hour `hour_index` (= epoch ms // HOUR_MS)."""
        got = self._slots.get(hour_index)
        if got is None:
            start = datetime.fromtimestamp(hour_index * 3600, tz=self.zone)
            end = datetime.fromtimestamp(hour_index * 3600 + 3599.999, tz=self.zone)
            got = (start.toordinal(), start.weekday(), start.hour,
                   end.toordinal(), end.weekday(), end.hour)
            self._slots[hour_index] = got
        return got

    def local_date(self, t_ms: int) -> date:
        return datetime.fromtimestamp(t_ms / 1000, tz=self.zone).date()

    def midnight_ms(self, day: int) -> int:
        """UTC epoch ms of local midnight starting the day with ordinal `day`."""
        d = date.fromordinal(day)
        return int(datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp() * 1000)

    def _irregular(self, year: int) -> frozenset[int]:
        """Days of `year` whose offset changes or is not a whole number of hours."""
        got = self._irregular_years.get(year)
        if got is None:
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            offsets = []
            for day in range(first, last + 2):
                d = date.fromordinal(day)
                off = datetime(d.year, d.month, d.day, tzinfo=self.zone).utcoffset()
                offsets.append(off.total_seconds() if off is not None else 0.0)
            bad = set()
            for i, day in enumerate(range(first, last + 1)):
                if offsets[i] != offsets[i + 1] or offsets[i] % 3600:
                    bad.add(day)
                    bad.add(day + 1)
            got = frozenset(d for d in bad if d <= last)
            self._irregular_years[year] = got
        return got

    def is_regular(self, day: int) -> bool:
        return day not in self._irregular(date.fromordinal(day).year)

    def hours_of_day(self, day: int) -> tuple[int, ...]:
        """The UTC hour indexes that start on local date `day`, in order."""
        got = self._day_hours.get(day)
        if got is None:
            lo = self.midnight_ms(day) // HOUR_MS - 2
            hi = self.midnight_ms(day + 1) // HOUR_MS + 2
            got = tuple(h for h in range(lo, hi) if self.slot(h)[0] == day)
            self._day_hours[day] = got
        return got

    def day_count(self, masks: Masks, day: int, first_day: int, last_day: int) -> int:
        """Eligible hours on local date `day` (0 outside the flight)."""
        if not first_day <= day <= last_day:
            return 0
        if self.is_regular(day):
            return masks[date.fromordinal(day).weekday()].bit_count()
        return sum(1 for h in self.hours_of_day(day)
                   if slot_eligible(self.slot(h), first_day, last_day, masks))

    def index_in_day(self, masks: Masks, hour_index: int, first_day: int, last_day: int
                     ) -> tuple[int, int]:
        """(eligible hours before `hour_index` on its local date, eligible hours that date)."""
        slot = self.slot(hour_index)
        day = slot[0]
        if self.is_regular(day):
            mask = masks[slot[1]]
            return (mask & ((1 << slot[2]) - 1)).bit_count(), mask.bit_count()
        before = total = 0
        for h in self.hours_of_day(day):
            if slot_eligible(self.slot(h), first_day, last_day, masks):
                total += 1
                if h < hour_index:
                    before += 1
        return before, total

    def count_days(self, masks: Masks, first: int, last: int, first_day: int, last_day: int
                   ) -> int:
        """Eligible hours on whole local dates first..last (inclusive), within the flight."""
        first, last = max(first, first_day), min(last, last_day)
        if first > last:
            return 0
        per_weekday = [m.bit_count() for m in masks]
        n = last - first + 1
        weeks, rest = divmod(n, 7)
        total = weeks * sum(per_weekday)
        start_wd = date.fromordinal(first).weekday()
        for i in range(rest):
            total += per_weekday[(start_wd + weeks * 7 + i) % 7]
        for year in range(date.fromordinal(first).year, date.fromordinal(last).year + 1):
            for day in self._irregular(year):
                if first <= day <= last:
                    nominal = per_weekday[date.fromordinal(day).weekday()]
                    total += self.day_count(masks, day, first_day, last_day) - nominal
        return total

    def count_hours(self, masks: Masks, first_day: int, last_day: int,
                    from_hour: int | None = None, to_hour: int | None = None) -> int:
        """Eligible UTC hours in [from_hour, to_hour) (None: the flight's edge)."""
        lo_day, hi_day = first_day, last_day
        total = 0
        if from_hour is not None:
            d0 = self.slot(from_hour)[0]
            if d0 > last_day:
                return 0
            if d0 >= first_day:
                total += sum(
                    1 for h in self.hours_of_day(d0)
                    if h >= from_hour and (to_hour is None or h < to_hour)
                    and slot_eligible(self.slot(h), first_day, last_day, masks))
                lo_day = d0 + 1
            else:
                lo_day = max(lo_day, d0 + 1)
        if to_hour is not None:
            d1 = self.slot(to_hour)[0]
            if d1 < first_day:
                return total
            if d1 <= last_day and d1 >= lo_day:
                total += sum(
                    1 for h in self.hours_of_day(d1) if h < to_hour
                    and slot_eligible(self.slot(h), first_day, last_day, masks))
                hi_day = d1 - 1
            else:
                hi_day = min(hi_day, d1 - 1)
        return total + self.count_days(masks, lo_day, hi_day, first_day, last_day)


@lru_cache(maxsize=512)
def calendar(name: str) -> TzCalendar:
    """The shared `TzCalendar` of zone `name`; ValueError for an unknown zone."""
    return TzCalendar(name)


def is_timezone(name: str) -> bool:
    try:
        calendar(name)
    except ValueError:
        return False
    return True


def utc_date(t_ms: int) -> date:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).date()
