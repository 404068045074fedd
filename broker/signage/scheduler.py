"""Compile every terminal's playlist for the next hours (pure, deterministic, fast).

Rules, per screen and UTC hour: a campaign can play only if its rule matches the screen, it has
a creative for the screen's orientation, and the hour lies inside its flight dates and dayparts
in the screen's own timezone (`localtime`). Eligible paid campaigns fill the hour best priority
first (ties by campaign_id); each gets its plays_per_hour if the hour has room, fewer when:

* the frequency cap is spread over the local day: the j-th of the day's n booked hours may hold
  floor((j+1)F/n) - floor(jF/n) plays, so a day never exceeds F;
* the budget is paced: R = budget - delivered plays left over D booked screen-hours left in the
  flight (from the earlier of now and the window start) gives the k-th booked hour of a screen
  floor((k+1)R/D) - floor(kR/D) plays, so plays spread over the flight and the window's total
  never exceeds R (k counts from the flight start so hourly recompiles continue the sequence;
  when that could overshoot R it counts from the window start instead).

The rest of the hour is house content (matching house campaigns, else the `house_creatives`);
see `layout` for the order within the hour.

Speed: screens with the same attributes form classes (`ScreenIndex`); `RuleIndex` gives each
class the bitset of campaigns matching it, and classes with the same timezone, orientation
and campaign bitset form a *profile*, compiled once and sharing one `Playlist` object. Per
hour, profiles whose eligible-campaign bitsets agree share the `PlaylistHour` too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence

from broker.signage.allocation import HourCompiler, Pacing, WindowPlan
from broker.signage.campaigns import Campaign, Creative
from broker.signage.layout import Info, Layout, make_playlist
from broker.signage.localtime import calendar
from broker.signage.rule_index import RuleIndex
from broker.signage.targeting import ORIENTATIONS, Screen, ScreenIndex
from content.playlist import HOUR_MS, Playlist, PlaylistHour
from content.playlist import Play as TimelinePlay

MAX_HOURS = 24 * 31


def _similar(item: tuple[int, tuple]) -> tuple:
    """Sort key putting classes likely to get similar campaigns next to each other."""
    city, district, fmt, tier, tags, tz, inches, orientation = item[1]
    return (tz, orientation, city, fmt, tier, district, sorted(tags), inches)


def _check_house(house: Sequence[Creative], orientations: set[str]) -> None:
    for o in sorted(orientations):
        if not any(c.fits(o) for c in house):
            raise ValueError(f"house_creatives has nothing for {o} screens: unsold time "
                             "could not be filled")


def compile_playlists(screens: Iterable[Screen] | ScreenIndex, campaigns: Sequence[Campaign],
                      house_creatives: Sequence[Creative], start_ms: int, hours: int,
                      now_ms: int, delivered: Mapping[str, int] | None = None, *,
                      stats: dict[str, int] | None = None) -> dict[str, Playlist]:
    """Playlist per device_id for `hours` UTC hours from the hour containing `start_ms`.

    `delivered`: plays already delivered per campaign_id (counted against budgets). Screens with
    identical targeting outcome share the same Playlist object. `stats`, when given, is
    filled with counts of the work done (classes, profiles, distinct hours, items...).

    The cyclic garbage collector is paused meanwhile: compilation allocates hundreds of
    thousands of acyclic objects, and repeated collections of them cost a third of the time.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _compile(screens, campaigns, house_creatives, start_ms, hours, now_ms,
                        delivered, stats)
    finally:
        if paused:
            gc.enable()


def _play_table(camps: Sequence[Campaign], house: Sequence[Creative]
                ) -> tuple[list[Info], dict[str, list[tuple[int, ...]]],
                           dict[str, tuple[int, ...]], dict[str, int]]:
    """Every creative of every campaign numbered in fill order, then the house creatives.

    Returns the plays, per orientation the play ids of each campaign and of the house
    creatives, and per orientation the bitset of campaigns able to play there.
    """
    plays: list[Info] = []
    ids: dict[str, list[tuple[int, ...]]] = {o: [] for o in ORIENTATIONS}
    fit = dict.fromkeys(ORIENTATIONS, 0)
    for i, c in enumerate(camps):
        first = len(plays)
        plays.extend((x.sha256, x.duration_ms, c.campaign_id) for x in c.creatives)
        fits = c.fits_orientations()
        for o in ORIENTATIONS:
            ids[o].append(tuple(first + k for k, x in enumerate(c.creatives) if x.fits(o)))
            if o in fits:
                fit[o] |= 1 << i
    first = len(plays)
    plays.extend((x.sha256, x.duration_ms, None) for x in house)
    house_ids = {o: tuple(first + k for k, x in enumerate(house) if x.fits(o))
                 for o in ORIENTATIONS}
    return plays, ids, house_ids, fit


def _compile(screens: Iterable[Screen] | ScreenIndex, campaigns: Sequence[Campaign],
             house_creatives: Sequence[Creative], start_ms: int, hours: int, now_ms: int,
             delivered: Mapping[str, int] | None, stats: dict[str, int] | None
             ) -> dict[str, Playlist]:
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be 1..{MAX_HOURS}, got {hours}")
    if start_ms < 0 or now_ms < 0:
        raise ValueError("start_ms and now_ms must be epoch milliseconds")
    index = screens if isinstance(screens, ScreenIndex) else ScreenIndex(screens)
    delivered = delivered or {}
    h0 = start_ms // HOUR_MS
    window = range(h0, h0 + hours)
    tz_slots = {tz: [calendar(tz).slot(h) for h in window] for tz in sorted(index.by["timezone"])}
    if not tz_slots:
        return {}
    _check_house(house_creatives, {k[7] for k in index.classes})
    lo = min(s[0] for slots in tz_slots.values() for s in slots)
    hi = max(s[3] for slots in tz_slots.values() for s in slots)
    campaign_ids = [c.campaign_id for c in campaigns]
    if len(set(campaign_ids)) != len(campaign_ids):
        raise ValueError("campaign_id used by more than one campaign")
    camps = sorted((c for c in campaigns if c.first_day <= hi and c.last_day >= lo),
                   key=lambda c: c.sort_key)
    n_paid = sum(1 for c in camps if not c.house)
    plan = WindowPlan(camps, tz_slots)
    rules = RuleIndex([c.rule for c in camps])
    plays, ids, house_ids, fit = _play_table(camps, house_creatives)
    profiles: dict[tuple[str, str, int], list[int]] = {}
    for ci, key in sorted(enumerate(index.classes), key=_similar):
        tz, o = key[5], key[7]
        pm = rules.mask(key) & plan.active[tz] & fit[o]
        profiles.setdefault((tz, o, pm), []).append(ci)
    pacing = Pacing(camps, plan, index, window, min(h0, now_ms // HOUR_MS), delivered)
    compiler = HourCompiler(camps, n_paid, ids, house_ids, Layout(plays), pacing)
    out: dict[str, Playlist] = {}
    shared: dict[tuple[int, ...], Playlist] = {}
    # hour by hour, similar profiles one after the other: neighbours share many of their items,
    # which keeps those in the CPU caches
    hour_lists: dict[tuple[str, str, int], list[PlaylistHour]] = {k: [] for k in profiles}
    for p, h in enumerate(window):
        for key, hour_list in hour_lists.items():
            tz, o, pm = key
            hour_list.append(compiler.hour(tz, o, p, h, pm & plan.eligible[tz][p]))
    for key, classes in profiles.items():
        hours_ = hour_lists[key]
        ident = tuple(map(id, hours_))
        playlist = shared.get(ident)
        if playlist is None:
            playlist = shared[ident] = make_playlist(hours_)
        for ci in classes:
            for screen in index.members[ci]:
                out[screen.device_id] = playlist
    if stats is not None:
        stats.update(classes=len(index.classes), campaigns_in_window=len(camps),
                     profiles=len(profiles), playlists=len(shared),
                     distinct_hours=len(compiler.hours), contents=len(compiler.contents),
                     items=compiler.layout.built)
    return out


def preview(playlist: Playlist, t1_ms: int, t2_ms: int) -> list[TimelinePlay]:
    """What plays on a terminal between t1 and t2 (clipped to the interval, in time order)."""
    return list(playlist.plays_between(t1_ms, t2_ms))
