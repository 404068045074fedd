"""Playlist compilation: what a store, a brand and an operator would notice."""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.signage import (
    Campaign,
    Creative,
    Rule,
    Screen,
    compile_playlists,
    house_campaign,
    preview,
)
from broker.signage.localtime import calendar, slot_eligible
from content.playlist import HOUR_MS, Playlist

MON = date(2024, 5, 6)
HOUSE = [Creative(sha256="f" * 64, duration_ms=20_000)]


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def creative(n: int, seconds: int = 10, orientation: str = "any") -> Creative:
    return Creative(sha256=f"{n:064x}", duration_ms=seconds * 1000, orientation=orientation)


def campaign(cid: str, **kw) -> Campaign:
    base = dict(campaign_id=cid, brand_id="acme", name=cid, flight_start=MON,
                flight_end=MON + timedelta(days=6), dayparts="daily 00-24", priority=5,
                plays_per_hour=6, creatives=(creative(zlib.crc32(cid.encode())),))
    base.update(kw)
    return Campaign(**base)


def screen(device_id: str, tz: str = "Asia/Shanghai", orientation: str = "landscape",
           city: str = "Shanghai", store: str = "s1") -> Screen:
    return Screen(device_id, store, city, "D1", "supermarket", 2, frozenset({"mall"}), tz,
                  10.1 if orientation == "landscape" else 12.0, orientation)


def plays(playlist: Playlist, cid: str | None) -> list:
    return [(h.start_ms, i) for h in playlist.hours for i in h.items if i.campaign_id == cid]


def per_hour(playlist: Playlist) -> list[Counter]:
    return [Counter(i.campaign_id for i in h.items) for h in playlist.hours]


def check_valid(playlist: Playlist) -> None:
    """Re-validate through the contract: contiguous, ascending, exactly one hour each."""
    again = Playlist.model_validate(playlist.model_dump())
    assert again == playlist
    for hour in playlist.hours:
        assert sum(i.duration_ms for i in hour.items) == HOUR_MS


START = ms(2024, 5, 6, 2)  # Monday 10:00 in Shanghai


def test_every_hour_exactly_filled_and_house_fills_unsold_time() -> None:
    out = compile_playlists([screen("t1")], [campaign("a")], HOUSE, START, 3, START)
    pl = out["t1"]
    check_valid(pl)
    assert [h.start_ms for h in pl.hours] == [START, START + HOUR_MS, START + 2 * HOUR_MS]
    for counts, hour in zip(per_hour(pl), pl.hours, strict=True):
        assert counts["a"] == 6
        house_ms = sum(i.duration_ms for i in hour.items if i.campaign_id is None)
        assert house_ms == HOUR_MS - 6 * 10_000
        assert hour.items[-1].campaign_id is None  # the cut house play ends the hour
        assert hour.items[-1].offset_ms + hour.items[-1].duration_ms == HOUR_MS


def test_odd_durations_fill_the_hour_exactly() -> None:
    odd = Creative(sha256="e" * 64, duration_ms=10_001)
    camps = [campaign("a", creatives=(odd,), plays_per_hour=7),
             campaign("b", creatives=(creative(1, 13), creative(2, 17)), plays_per_hour=9)]
    house = [Creative(sha256="d" * 64, duration_ms=14_999), HOUSE[0]]
    pl = compile_playlists([screen("t1")], camps, house, START, 3, START)["t1"]
    check_valid(pl)
    assert [(c["a"], c["b"]) for c in per_hour(pl)] == [(7, 9)] * 3


def test_window_starts_at_the_hour_containing_start() -> None:
    out = compile_playlists([screen("t1")], [campaign("a")], HOUSE, START + 1234, 1, START)
    assert out["t1"].hours[0].start_ms == START


def test_share_of_voice_met_and_spread_through_the_hour() -> None:
    camps = [campaign("a", plays_per_hour=12), campaign("b", plays_per_hour=5),
             campaign("c", plays_per_hour=30, creatives=(creative(3, 15),))]
    pl = compile_playlists([screen("t1")], camps, HOUSE, START, 2, START)["t1"]
    for counts in per_hour(pl):
        assert (counts["a"], counts["b"], counts["c"]) == (12, 5, 30)
    hour = pl.hours[0]
    starts = [i.offset_ms for i in hour.items if i.campaign_id == "a"]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) > HOUR_MS / 12 / 2 and max(gaps) < HOUR_MS / 12 * 1.5
    assert starts[0] < HOUR_MS / 12
    for x, y in zip(hour.items, hour.items[1:], strict=False):  # never back to back
        assert not (x.campaign_id == y.campaign_id == "a")


def test_priorities_win_an_oversold_hour_and_ties_go_by_id() -> None:
    big = (creative(7, 30),)
    camps = [campaign("low", priority=2, plays_per_hour=60, creatives=big),
             campaign("high", priority=9, plays_per_hour=60, creatives=(creative(8, 30),)),
             campaign("mid-b", priority=5, plays_per_hour=30, creatives=(creative(9, 30),)),
             campaign("mid-a", priority=5, plays_per_hour=30, creatives=(creative(10, 30),))]
    pl = compile_playlists([screen("t1")], camps, HOUSE, START, 1, START)["t1"]
    counts = per_hour(pl)[0]
    assert counts["high"] == 60  # 1800 s
    assert counts["mid-a"] == 30  # 900 s, wins the tie by campaign_id
    assert counts["mid-b"] == 30  # the last 900 s
    assert counts["low"] == 0 and counts[None] == 0


def test_lower_priority_takes_what_is_left_when_it_fits() -> None:
    camps = [campaign("high", priority=9, plays_per_hour=118, creatives=(creative(1, 30),)),
             campaign("long", priority=5, plays_per_hour=2, creatives=(creative(2, 30),)),
             campaign("short", priority=3, plays_per_hour=4, creatives=(creative(3, 10),))]
    counts = per_hour(compile_playlists([screen("t1")], camps, HOUSE, START, 1, START)["t1"])[0]
    assert (counts["high"], counts["long"], counts["short"], counts[None]) == (118, 2, 0, 0)
    camps[0] = campaign("high", priority=9, plays_per_hour=117, creatives=(creative(1, 30),))
    counts = per_hour(compile_playlists([screen("t1")], camps, HOUSE, START, 1, START)["t1"])[0]
    assert (counts["high"], counts["long"], counts["short"], counts[None]) == (117, 2, 3, 0)


def test_dayparts_follow_each_store_timezone() -> None:
    screens = [screen("sh"), screen("ur", tz="Asia/Urumqi", city="Urumqi", store="s2")]
    day = ms(2024, 5, 6, 0) - 8 * HOUR_MS  # Monday 00:00 Shanghai
    out = compile_playlists(screens, [campaign("breakfast", dayparts="daily 07-10")], HOUSE,
                            day, 24, day)
    for device, offset in (("sh", 8), ("ur", 6)):
        hours = {start for start, _ in plays(out[device], "breakfast")}
        local = sorted((datetime.fromtimestamp(h / 1000, tz=UTC) + timedelta(hours=offset)).hour
                       for h in hours)
        assert local == [7, 8, 9], device
    assert {h for h, _ in plays(out["sh"], "breakfast")} != {h for h, _ in
                                                             plays(out["ur"], "breakfast")}


def test_flight_dates_are_inclusive_in_local_time() -> None:
    c = campaign("oneday", flight_start=MON, flight_end=MON)
    local_midnight = ms(2024, 5, 5, 16)  # Monday 00:00 in Shanghai = Sunday 16:00 UTC
    out = compile_playlists([screen("t1")], [c], HOUSE, local_midnight - HOUR_MS, 26, 0)
    hours = sorted({h for h, _ in plays(out["t1"], "oneday")})
    assert hours[0] == local_midnight
    assert hours[-1] == local_midnight + 23 * HOUR_MS  # Monday 23:00 local still plays
    assert len(hours) == 24


def test_budget_is_paced_over_the_flight_and_never_exceeded() -> None:
    c = campaign("paced", flight_start=MON, flight_end=MON + timedelta(days=1),
                 plays_per_hour=10, budget_plays=100)
    screens = [screen("t1"), screen("t2", orientation="portrait", store="s2")]
    start = ms(2024, 5, 5, 16)  # flight start, local midnight
    out = compile_playlists(screens, [c], HOUSE, start, 48, start)
    per = [sum(v["paced"] for v in per_hour(out[d])) for d in ("t1", "t2")]
    assert sum(per) <= 100
    assert sum(per) >= 96  # budget / screen-hours = 100 / 96, floors lose at most 1 per screen
    first_hours = [per_hour(out["t1"])[k]["paced"] for k in range(4)]
    assert max(first_hours) <= 2  # ~1 per hour, not 10 in the first hour
    # with 90 already delivered only 10 remain for the whole fleet
    out = compile_playlists(screens, [c], HOUSE, start, 48, start, delivered={"paced": 90})
    assert sum(sum(v["paced"] for v in per_hour(out[d])) for d in ("t1", "t2")) <= 10


def test_budget_continues_across_hourly_recompiles() -> None:
    c = campaign("trickle", flight_start=MON, flight_end=MON, plays_per_hour=10, budget_plays=8)
    start = ms(2024, 5, 5, 16)
    delivered = 0
    for k in range(24):  # recompile every hour for the next hour, as the controller would
        t = start + k * HOUR_MS
        out = compile_playlists([screen("t1")], [c], HOUSE, t, 1, t,
                                delivered={"trickle": delivered})
        delivered += per_hour(out["t1"])[0]["trickle"]
    assert delivered == 8


def test_frequency_cap_per_local_day() -> None:
    c = campaign("capped", dayparts="daily 07-22", plays_per_hour=4, frequency_cap_per_day=10)
    start = ms(2024, 5, 5, 16)  # Monday 00:00 Shanghai, two local days
    out = compile_playlists([screen("t1")], [c], HOUSE, start, 48, start)
    counts = [v["capped"] for v in per_hour(out["t1"])]
    assert sum(counts[:24]) == 10 and sum(counts[24:]) == 10
    assert max(counts) <= 4
    assert sum(1 for n in counts[:24] if n) >= 5  # spread over the day, not front-loaded


def test_orientation_respected() -> None:
    c = campaign("both", creatives=(creative(1, orientation="portrait"),
                                    creative(2, orientation="landscape")), plays_per_hour=4)
    p_only = campaign("ponly", creatives=(creative(3, orientation="portrait"),))
    house = [creative(5, 15, "portrait"), creative(6, 15, "landscape")]
    out = compile_playlists([screen("l"), screen("p", orientation="portrait", store="s2")],
                            [c, p_only], house, START, 1, START)
    land = {i.creative for h in out["l"].hours for i in h.items}
    port = {i.creative for h in out["p"].hours for i in h.items}
    assert land == {creative(2).sha256, creative(6, 15).sha256}
    assert port == {creative(1).sha256, creative(3).sha256, creative(5, 15).sha256}
    with pytest.raises(ValueError, match="nothing for portrait screens"):
        compile_playlists([screen("p", orientation="portrait")], [c],
                          [creative(6, 15, "landscape")], START, 1, START)


def test_targeting_decides_who_plays() -> None:
    c = campaign("bj", rule=Rule(cities={"Beijing"}))
    out = compile_playlists([screen("sh"), screen("bj", city="Beijing", store="s2")], [c],
                            HOUSE, START, 1, START)
    assert plays(out["sh"], "bj") == [] and len(plays(out["bj"], "bj")) == 6


def test_creatives_rotate_across_hours() -> None:
    c = campaign("rot", plays_per_hour=1, creatives=(creative(1), creative(2), creative(3)))
    pl = compile_playlists([screen("t1")], [c], HOUSE, START, 6, START)["t1"]
    used = [i.creative for _, i in plays(pl, "rot")]
    assert len(used) == 6 and set(used) == {creative(n).sha256 for n in (1, 2, 3)}


def test_house_campaigns_fill_before_fallback_and_keep_their_id() -> None:
    promo = house_campaign("promo", "retailer", [creative(40, 30)], MON, MON,
                           rule=Rule(formats={"supermarket"}))
    out = compile_playlists([screen("t1")], [campaign("a"), promo], HOUSE, START, 1, 0)
    counts = per_hour(out["t1"])[0]
    assert counts["a"] == 6 and counts["promo"] == 118 and None not in counts
    later = START + 24 * HOUR_MS  # after the promo's flight: fallback house content
    assert None in per_hour(compile_playlists([screen("t1")], [campaign("a"), promo], HOUSE,
                                              later, 1, 0)["t1"])[0]


def test_identical_screens_share_one_playlist_object() -> None:
    screens = [screen(f"t{i}", store=f"s{i}") for i in range(20)]
    screens.append(screen("odd", orientation="portrait"))
    out = compile_playlists(screens, [campaign("a")], HOUSE, START, 2, START)
    assert len({id(out[f"t{i}"]) for i in range(20)}) == 1
    assert out["odd"] is not out["t0"]


def test_deterministic() -> None:
    camps = [campaign(f"c{i}", priority=i % 4 + 1, plays_per_hour=i + 1) for i in range(12)]
    screens = [screen("a"), screen("b", tz="Asia/Urumqi")]
    one = compile_playlists(screens, camps, HOUSE, START, 4, START)
    two = compile_playlists(screens[::-1], camps[::-1], HOUSE, START, 4, START)
    assert {k: v.digest() for k, v in one.items()} == {k: v.digest() for k, v in two.items()}


def test_preview_what_plays_between_two_instants() -> None:
    pl = compile_playlists([screen("t1")], [campaign("a")], HOUSE, START, 2, START)["t1"]
    t1, t2 = START + HOUR_MS - 90_000, START + HOUR_MS + 90_000
    shown = preview(pl, t1, t2)
    assert shown[0].start_ms == t1 and shown[-1].end_ms == t2
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(shown))
    assert preview(pl, START - 10, START) == []


def test_bad_arguments_refused() -> None:
    with pytest.raises(ValueError, match="hours"):
        compile_playlists([screen("t1")], [], HOUSE, START, 0, START)
    with pytest.raises(ValueError, match="more than one campaign"):
        compile_playlists([screen("t1")], [campaign("a"), campaign("a")], HOUSE, START, 1, 0)
    assert compile_playlists([], [campaign("a")], HOUSE, START, 1, 0) == {}


# ---------------------------------------------------------------- properties (hypothesis)

ZONES = ["Asia/Shanghai", "Asia/Urumqi", "Asia/Kolkata", "Europe/Berlin"]
screen_st = st.builds(
    lambda i, tz, o, city: screen(f"t{i}", tz=tz, orientation=o, city=city, store=f"s{i}"),
    st.integers(0, 99), st.sampled_from(ZONES), st.sampled_from(["landscape", "portrait"]),
    st.sampled_from(["Shanghai", "Beijing"]))
campaign_st = st.builds(
    lambda i, prio, pph, secs, o, days, start_day, hours, city: campaign(
        f"c{i}", priority=prio, plays_per_hour=pph, creatives=(creative(i, secs, o),),
        flight_start=MON + timedelta(days=start_day),
        flight_end=MON + timedelta(days=start_day + days),
        dayparts={(d, h) for d in range(7) for h in hours},
        rule=Rule(cities={city}) if city else Rule()),
    st.integers(0, 999), st.integers(1, 10), st.integers(1, 40), st.sampled_from([5, 10, 30]),
    st.sampled_from(["any", "any", "landscape", "portrait"]), st.integers(0, 2),
    st.integers(-1, 2), st.sets(st.integers(0, 23), min_size=1, max_size=24),
    st.sampled_from([None, "Shanghai", "Beijing"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(screen_st, min_size=1, max_size=6, unique_by=lambda s: s.device_id),
       st.lists(campaign_st, max_size=8, unique_by=lambda c: c.campaign_id),
       st.integers(0, 60), st.integers(1, 8))
def test_scheduler_invariants(screens: list[Screen], camps: list[Campaign], start_hour: int,
                              hours: int) -> None:
    start = ms(2024, 5, 5, 0) + start_hour * HOUR_MS
    house = [creative(7777, 20, "landscape"), creative(7778, 25, "portrait")]
    out = compile_playlists(screens, camps, house, start, hours, start)
    by_id = {c.campaign_id: c for c in camps}
    for s in screens:
        pl = out[s.device_id]
        check_valid(pl)
        cal = calendar(s.timezone)
        for hour in pl.hours:
            slot = cal.slot(hour.start_ms // HOUR_MS)
            eligible = [c for c in camps if c.rule.matches(s) and c.creatives_for(s.orientation)
                        and slot_eligible(slot, c.first_day, c.last_day, c.daypart_masks)]
            counts = Counter(i.campaign_id for i in hour.items)
            for i in hour.items:
                if i.campaign_id is None:
                    continue
                c = by_id[i.campaign_id]
                assert c.rule.matches(s)
                assert any(x.sha256 == i.creative and x.fits(s.orientation) for x in c.creatives)
                for t in (hour.start_ms + i.offset_ms,
                          hour.start_ms + i.offset_ms + i.duration_ms - 1):
                    local = datetime.fromtimestamp(t / 1000, tz=ZoneInfo(s.timezone))
                    assert c.flight_start <= local.date() <= c.flight_end
                    assert (local.weekday(), local.hour) in c.dayparts
            paid = sum(i.duration_ms for i in hour.items if i.campaign_id is not None)
            for c in eligible:  # share of voice whenever the hour has room for it
                got = counts[c.campaign_id]
                assert got <= c.plays_per_hour
                if got < c.plays_per_hour:
                    assert paid + c.creatives[0].duration_ms > HOUR_MS
            demand = sum(c.plays_per_hour * c.creatives[0].duration_ms for c in eligible)
            if demand <= HOUR_MS:
                assert all(counts[c.campaign_id] == c.plays_per_hour for c in eligible)
            for hi in eligible:  # a lower priority never plays while a higher one is short
                if counts[hi.campaign_id] < hi.plays_per_hour:
                    for lo in eligible:
                        if lo.sort_key > hi.sort_key and counts[lo.campaign_id]:
                            assert lo.creatives[0].duration_ms < hi.creatives[0].duration_ms


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(screen_st, min_size=1, max_size=5, unique_by=lambda s: s.device_id),
       st.integers(1, 400), st.integers(0, 300), st.integers(1, 30), st.integers(0, 72),
       st.integers(1, 48), st.integers(0, 2))
def test_budget_never_exceeded(screens: list[Screen], budget: int, delivered: int, pph: int,
                               start_hour: int, hours: int, extra_days: int) -> None:
    c = campaign("b", budget_plays=budget, plays_per_hour=pph, dayparts="daily 06-22",
                 flight_end=MON + timedelta(days=extra_days))
    start = ms(2024, 5, 5, 12) + start_hour * HOUR_MS
    out = compile_playlists(screens, [c], HOUSE, start, hours, start - 5 * HOUR_MS,
                            delivered={"b": delivered})
    total = sum(per_hour(out[s.device_id])[k]["b"] for s in screens for k in range(hours))
    assert total <= max(0, budget - delivered)
