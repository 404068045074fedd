"""Booking-time checks across campaigns: settings that cannot all be honoured together.

`Campaign` refuses what is impossible on its own. What is impossible only in combination is
found here, against the real screen set: same-priority campaigns that can reach the same screen
in the same local hour and together ask for more than the 3600 s of that hour (one of them
would be cut, and priority cannot say which), campaigns that reach no screen at all, and
duplicate campaign ids. Each finding is a `BookingIssue` with the campaigns and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from broker.signage.bitsets import bit_positions
from broker.signage.campaigns import WEEKDAYS, Campaign
from broker.signage.rule_index import RuleIndex
from broker.signage.targeting import Screen, ScreenIndex
from content.playlist import HOUR_MS


@dataclass(frozen=True, slots=True)
class BookingIssue:
    campaign_ids: tuple[str, ...]
    reason: str

    def __str__(self) -> str:
        return f"{', '.join(self.campaign_ids)}: {self.reason}"


def _demand_ms(campaign: Campaign, orientation: str) -> float:
    """Expected seconds (in ms) one hour of the campaign takes on a screen of `orientation`."""
    fitting = campaign.creatives_for(orientation)
    return campaign.plays_per_hour * sum(c.duration_ms for c in fitting) / len(fitting)


Span = tuple[int, int, tuple[int, ...], float, Campaign]  # first day, last day, slots, ms


def _span(c: Campaign, demand: float) -> Span:
    """A campaign as plain values: flight days, weekly slots (weekday * 24 + hour), demand."""
    masks = c.daypart_masks
    slots = tuple(wd * 24 + h for wd in range(7) for h in range(24) if masks[wd] >> h & 1)
    return c.first_day, c.last_day, slots, demand, c


def _first_clash(group: list[Span], only: Span | None = None
                 ) -> tuple[list[Campaign], date, int, float] | None:
    """First local (day, hour) where the group asks more than an hour, sweeping the flights.

    `only`: just the days and hours that campaign plays (it must be part of the clash).
    """
    hours_of = None
    if only is not None:
        mine = set(only[2])
        group = [g for g in group
                 if g[0] <= only[1] and g[1] >= only[0] and mine.intersection(g[2])]
        if len(group) < 2:
            return None
        hours_of = [[h for h in range(24) if wd * 24 + h in mine] for wd in range(7)]
    events = sorted([(g[0], 1, k) for k, g in enumerate(group)]
                    + [(g[1] + 1, -1, k) for k, g in enumerate(group)])
    peak = running = 0.0
    for _, sign, k in events:  # cheap bound first: flights at once, ignoring dayparts
        running += sign * group[k][3]
        peak = max(peak, running)
    if peak <= HOUR_MS:
        return None
    week = [0.0] * 168
    running = 0.0
    for n, (day, sign, k) in enumerate(events):
        slots, ms = group[k][2], group[k][3]
        running += sign * ms
        for slot in slots:
            week[slot] += sign * ms
        end = events[n + 1][0] if n + 1 < len(events) else day
        if end == day or running <= HOUR_MS:
            continue  # not the last change of this day, or nothing can clash
        lo, hi = (day, end) if only is None else (max(day, only[0]), min(end, only[1] + 1))
        for d in range(lo, min(hi, lo + 7)):  # the week repeats until the next change
            weekday = date.fromordinal(d).weekday()
            row = week[weekday * 24:weekday * 24 + 24]
            hours = range(24) if hours_of is None else hours_of[weekday]
            hour = next((h for h in hours if row[h] > HOUR_MS + 1e-6), None)
            if hour is not None:
                here = [g for g in group if g[0] <= d <= g[1] and weekday * 24 + hour in g[2]]
                return [g[4] for g in here], date.fromordinal(d), hour, sum(g[3] for g in here)
    return None


def check_overlaps(campaigns: Sequence[Campaign], screens: Iterable[Screen] | ScreenIndex,
                   involving: str | None = None) -> list[BookingIssue]:
    """Everything that cannot be honoured as booked, in a stable order (empty list: all good).

    `involving`: only what concerns that campaign_id (a booking being checked), which also
    limits the work to the screens it reaches.
    """
    issues: list[BookingIssue] = []
    ids = [c.campaign_id for c in campaigns]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        if involving in (None, dup):
            issues.append(BookingIssue((dup,), "campaign_id is used by more than one campaign"))
    index = screens if isinstance(screens, ScreenIndex) else ScreenIndex(screens)
    paid = sorted((c for c in campaigns if not c.house), key=lambda c: c.sort_key)
    rules = RuleIndex([c.rule for c in paid])
    fit = {o: sum(1 << i for i, c in enumerate(paid) if o in c.fits_orientations())
           for o in ("landscape", "portrait")}
    spans = {o: [_span(c, _demand_ms(c, o)) if o in c.fits_orientations() else None
                 for c in paid] for o in ("landscape", "portrait")}
    target = 0
    if involving is not None:
        target = sum(1 << i for i, c in enumerate(paid) if c.campaign_id == involving)
    reached = 0
    seen: set[tuple[str, int]] = set()
    clashes: dict[tuple[str, ...], BookingIssue] = {}
    classes = range(len(index.classes))
    booked = [c for c in paid if c.campaign_id == involving]
    booked_at = paid.index(booked[0]) if booked else -1
    if booked:  # only the screens the booked campaign reaches
        classes = bit_positions(index.mask(booked[0].rule)
                                & index.orientation_mask(booked[0].fits_orientations()))
    for cls in classes:
        key = index.classes[cls]
        orientation = key[7]
        mask = rules.mask(key) & fit[orientation]
        reached |= mask
        if involving is not None and not mask & target:
            continue
        by_priority: dict[int, int] = {}
        for i in bit_positions(mask):
            p = paid[i].priority
            by_priority[p] = by_priority.get(p, 0) | 1 << i
        for priority, bits in sorted(by_priority.items(), reverse=True):
            if bits & (bits - 1) == 0 or (involving is not None and not bits & target):
                continue  # a single campaign, or not the one being booked
            if (orientation, bits) in seen:
                continue
            seen.add((orientation, bits))
            group = [spans[orientation][i] for i in bit_positions(bits)]
            clash = _first_clash(group, spans[orientation][booked_at] if booked else None)
            if clash is None:
                continue
            here, day, hour, total = clash
            names = tuple(c.campaign_id for c in here)
            if names not in clashes and (involving is None or involving in names):
                example = index.members[cls][0].device_id
                clashes[names] = BookingIssue(names, (
                    f"priority {priority} campaigns ask {total / 1000:.0f} s of the 3600 s hour "
                    f"on {orientation} screens such as {example!r} on {day} "
                    f"({WEEKDAYS[day.weekday()].title()}) {hour:02d}:00 local time; the last of "
                    "them by campaign_id would be cut"))
    issues.extend(clashes[k] for k in sorted(clashes))
    for i in bit_positions(rules.all & ~reached):
        if involving in (None, paid[i].campaign_id):
            issues.append(BookingIssue((paid[i].campaign_id,),
                                       "targets no screen (rule and creative orientations)"))
    return issues
