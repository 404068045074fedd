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
from itertools import pairwise

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


def _peak(group: list[Campaign], demand: dict[str, float]) -> float:
    """Most demand flights ever ask at once, ignoring dayparts (a cheap upper bound)."""
    events = sorted([(c.first_day, demand[c.campaign_id]) for c in group]
                    + [(c.last_day + 1, -demand[c.campaign_id]) for c in group])
    peak = running = 0.0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def _first_clash(group: list[Campaign], demand: dict[str, float]
                 ) -> tuple[list[Campaign], date, int, float] | None:
    if _peak(group, demand) <= HOUR_MS:
        return None
    cuts = sorted({c.first_day for c in group} | {c.last_day + 1 for c in group})
    for a, b in pairwise(cuts):
        active = [c for c in group if c.first_day <= a and c.last_day >= b - 1]
        if sum(demand[c.campaign_id] for c in active) <= HOUR_MS:
            continue
        for day in range(a, min(b, a + 7)):
            weekday = date.fromordinal(day).weekday()
            for hour in range(24):
                here = [c for c in active if c.daypart_masks[weekday] >> hour & 1]
                total = sum(demand[c.campaign_id] for c in here)
                if total > HOUR_MS:
                    return here, date.fromordinal(day), hour, total
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
    demand = {o: {c.campaign_id: _demand_ms(c, o) for c in paid if o in c.fits_orientations()}
              for o in ("landscape", "portrait")}
    target = 0
    if involving is not None:
        target = sum(1 << i for i, c in enumerate(paid) if c.campaign_id == involving)
    reached = 0
    seen: set[tuple[str, int]] = set()
    clashes: dict[tuple[str, ...], BookingIssue] = {}
    for cls, key in enumerate(index.classes):
        orientation = key[7]
        mask = rules.mask(key) & fit[orientation]
        reached |= mask
        if involving is not None and not mask & target:
            continue
        by_priority: dict[int, list[Campaign]] = {}
        for i in bit_positions(mask):
            by_priority.setdefault(paid[i].priority, []).append(paid[i])
        for priority, group in sorted(by_priority.items(), reverse=True):
            if len(group) < 2 or (involving is not None
                                  and all(c.campaign_id != involving for c in group)):
                continue
            group_key = (orientation, sum(1 << paid.index(c) for c in group))
            if group_key in seen:
                continue
            seen.add(group_key)
            clash = _first_clash(group, demand[orientation])
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
