"""What a campaign would deliver, before it is booked (pure, fast).

Per matching screen: the daypart hours on each flight date in the screen's own timezone, times
plays_per_hour, at most the frequency cap per local day; summed over the screens (screens of one
timezone are identical here, so the work is per timezone and per day, not per screen); then
limited by the budget, which the scheduler paces evenly, so each day keeps its proportional
part. This is the campaign's ceiling: it assumes every play wins its hour (no competition from
higher priorities), which is what a booking screen wants to show next to `check_overlaps`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from broker.signage.campaigns import Campaign
from broker.signage.localtime import Masks, calendar, masks_of, slot_eligible
from broker.signage.targeting import ORIENTATIONS, Rule, ScreenIndex
from content.playlist import HOUR_MS


@dataclass(frozen=True, slots=True)
class Forecast:
    stores: int
    screens: int
    screens_by_timezone: dict[str, int]
    screen_hours: int  # booked screen-hours in the (remaining) flight
    impressions: int  # expected plays over the flight, all screens
    per_day: dict[date, int]  # by local date (timezones added up)
    average_per_day: float  # impressions / flight days
    limited_by: str | None  # "budget", "frequency_cap" or None


def _day_plays(hours: int, pph: int, cap: int | None) -> int:
    return hours * pph if cap is None else min(hours * pph, cap)


def _partial_day_plays(cal, masks: Masks, day: int, from_hour: int, first: int, last: int,
                       pph: int, cap: int | None) -> tuple[int, int]:
    """(hours, plays) left on local date `day` from UTC hour `from_hour` on, as scheduled."""
    eligible = [h for h in cal.hours_of_day(day)
                if slot_eligible(cal.slot(h), first, last, masks)]
    n = len(eligible)
    hours = plays = 0
    for j, h in enumerate(eligible):
        if h < from_hour:
            continue
        hours += 1
        plays += pph if cap is None else min(pph, (j + 1) * cap // n - j * cap // n)
    return hours, plays


def forecast_settings(index: ScreenIndex, *, rule: Rule, flight_start: date, flight_end: date,
                      dayparts: Iterable[tuple[int, int]] | Masks, plays_per_hour: int,
                      frequency_cap_per_day: int | None = None, budget_plays: int | None = None,
                      orientations: Iterable[str] = ORIENTATIONS, from_ms: int | None = None
                      ) -> Forecast:
    """Forecast for a rule and settings over the screens in `index`.

    `from_ms`: count only what is left of the flight from that instant (default: all of it);
    `budget_plays` is then the budget still unspent.
    """
    masks = dayparts if (isinstance(dayparts, tuple) and len(dayparts) == 7
                         and all(isinstance(m, int) for m in dayparts)) else masks_of(dayparts)
    first, last = flight_start.toordinal(), flight_end.toordinal()
    mask = index.mask(rule) & index.orientation_mask(orientations)
    pph, cap = plays_per_hour, frequency_cap_per_day
    by_tz: dict[str, int] = {}
    per_day: dict[int, int] = {}
    screen_hours = total = uncapped = 0
    for tz, tz_mask in sorted(index.by["timezone"].items()):
        n = index.count(mask & tz_mask)
        if not n:
            continue
        by_tz[tz] = n
        cal = calendar(tz)
        lo = first
        if from_ms is not None:
            from_hour = -(-from_ms // HOUR_MS)
            d0 = cal.slot(from_hour)[0]
            if d0 > last:
                continue
            if d0 >= first:
                hours, plays = _partial_day_plays(cal, masks, d0, from_hour, first, last, pph, cap)
                per_day[d0] = per_day.get(d0, 0) + n * plays
                screen_hours += n * hours
                total += n * plays
                uncapped += n * hours * pph
                lo = d0 + 1
        for day in range(lo, last + 1):
            hours = cal.day_count(masks, day, first, last)
            plays = _day_plays(hours, pph, cap)
            per_day[day] = per_day.get(day, 0) + n * plays
            screen_hours += n * hours
            total += n * plays
            uncapped += n * hours * pph
    limited_by = "frequency_cap" if total < uncapped else None
    impressions = total
    if budget_plays is not None and total > budget_plays:
        impressions, limited_by = budget_plays, "budget"
        cum = done = 0
        for day in sorted(per_day):
            cum += per_day[day]
            scaled = cum * budget_plays // total
            per_day[day], done = scaled - done, scaled
    days = max(0, last - max(first, min(per_day, default=first)) + 1)
    return Forecast(
        stores=len(index.stores(mask)),
        screens=index.count(mask),
        screens_by_timezone=by_tz,
        screen_hours=screen_hours,
        impressions=impressions,
        per_day={date.fromordinal(d): v for d, v in sorted(per_day.items())},
        average_per_day=impressions / days if days else 0.0,
        limited_by=limited_by,
    )


def forecast(campaign: Campaign, index: ScreenIndex, *, from_ms: int | None = None,
             delivered: int = 0) -> Forecast:
    """Forecast for a (paid) campaign; `delivered` plays already count against its budget."""
    budget = campaign.budget_plays
    return forecast_settings(
        index, rule=campaign.rule, flight_start=campaign.flight_start,
        flight_end=campaign.flight_end, dayparts=campaign.daypart_masks,
        plays_per_hour=campaign.plays_per_hour,
        frequency_cap_per_day=campaign.frequency_cap_per_day,
        budget_plays=None if budget is None else max(0, budget - delivered),
        orientations=campaign.fits_orientations(), from_ms=from_ms)
