"""Campaign booking: validation refuses impossible settings with a reason; overlap checks."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from broker.signage import (
    Campaign,
    Creative,
    Rule,
    Screen,
    check_overlaps,
    house_campaign,
    parse_dayparts,
)

MON = date(2024, 5, 6)  # a Monday
SUN = date(2024, 5, 12)


def creative(n: int = 1, ms: int = 10_000, orientation: str = "any") -> Creative:
    return Creative(sha256=f"{n:064x}", duration_ms=ms, orientation=orientation)


def campaign(**kw) -> Campaign:
    base = dict(campaign_id="c1", brand_id="acme", name="Spring", flight_start=MON,
                flight_end=SUN, dayparts="daily 07-22", priority=5, plays_per_hour=4,
                creatives=(creative(),))
    base.update(kw)
    return Campaign(**base)


def screen(device_id: str, city: str = "Shanghai", orientation: str = "landscape",
           tz: str = "Asia/Shanghai") -> Screen:
    return Screen(device_id, f"s-{device_id}", city, "Xuhui", "supermarket", 2,
                  frozenset({"mall"}), tz, 10.1, orientation)


def refused(match: str, **kw) -> None:
    with pytest.raises(ValidationError, match=match):
        campaign(**kw)


def test_valid_campaign_and_derived_masks() -> None:
    c = campaign(dayparts="Mon-Fri 07-10")
    assert c.daypart_masks[:5] == (0b1110000000,) * 5
    assert c.daypart_masks[5:] == (0, 0)
    assert c.fits_orientations() == ("landscape", "portrait")
    assert campaign(dayparts=[(0, 7), (1, 8)]).dayparts == frozenset({(0, 7), (1, 8)})


def test_json_round_trip() -> None:
    c = campaign(rule=Rule(cities={"Shanghai"}, tags_all={"mall"}, min_inches=10),
                 frequency_cap_per_day=8, budget_plays=5000, dayparts="Mon-Fri 07-10")
    assert Campaign.model_validate_json(c.model_dump_json()) == c
    assert Campaign.model_validate(c.model_dump(mode="json")).daypart_masks == c.daypart_masks


def test_parse_dayparts() -> None:
    assert parse_dayparts("Mon-Fri 07-10") == {(d, h) for d in range(5) for h in (7, 8, 9)}
    assert parse_dayparts("Sat,Sun 10-12 18-19") == {(5, 10), (5, 11), (6, 10), (6, 11),
                                                     (5, 18), (6, 18)}
    assert parse_dayparts("Fri 22-02") == {(4, 22), (4, 23), (5, 0), (5, 1)}
    assert parse_dayparts("Sun 23-01") == {(6, 23), (0, 0)}  # wraps into Monday
    assert len(parse_dayparts("daily 00-24")) == 168
    assert parse_dayparts("Fri-Mon 09-10") == {(4, 9), (5, 9), (6, 9), (0, 9)}
    for bad in ("Mon", "Funday 07-10", "Mon 7-25", "Mon 07-07", "Mon 0710", ""):
        with pytest.raises(ValueError):
            parse_dayparts(bad)


def test_refuses_end_before_start() -> None:
    refused("flight_end 2024-05-05 is before flight_start 2024-05-06",
            flight_end=date(2024, 5, 5))


def test_refuses_empty_dayparts() -> None:
    refused("dayparts is empty", dayparts=())


def test_refuses_daypart_out_of_range() -> None:
    refused("weekday 0..6", dayparts=[(7, 3)])
    refused("hour 0..23", dayparts=[(1, 24)])


def test_refuses_share_of_voice_longer_than_the_hour() -> None:
    refused(r"plays_per_hour 250 x 15 s \(longest creative\) = 3750 s exceeds the 3600 s hour",
            plays_per_hour=250, creatives=(creative(1, 10_000), creative(2, 15_000)))
    assert campaign(plays_per_hour=240, creatives=(creative(1, 15_000),)).plays_per_hour == 240


def test_refuses_frequency_cap_below_hourly_share() -> None:
    refused("frequency_cap_per_day 3 is below plays_per_hour 4", frequency_cap_per_day=3)
    assert campaign(frequency_cap_per_day=4).frequency_cap_per_day == 4


def test_refuses_when_no_creative_suits_the_targeted_orientation() -> None:
    refused("no creative suits the targeted orientation", rule=Rule(orientations={"portrait"}),
            creatives=(creative(1, orientation="landscape"),))
    ok = campaign(rule=Rule(orientations={"portrait"}),
                  creatives=(creative(1, orientation="landscape"),
                             creative(2, orientation="portrait")))
    assert ok.fits_orientations() == ("portrait",)


def test_refuses_dayparts_outside_the_flight() -> None:
    refused("no daypart falls on a day of the flight", flight_start=date(2024, 5, 11),
            flight_end=SUN, dayparts="Mon-Fri 07-10")


def test_refuses_other_impossible_values() -> None:
    refused("campaign_id", campaign_id="bad id!")
    refused("priority", priority=11)
    refused("priority", priority=0)
    refused("plays_per_hour must be at least 1", plays_per_hour=0)
    refused("valid integer", plays_per_hour="4")
    refused("budget_plays", budget_plays=0)
    refused("same creative is listed twice", creatives=(creative(1), creative(1)))
    refused("creatives", creatives=())
    with pytest.raises(ValidationError, match="duration_ms"):
        creative(1, ms=500)
    with pytest.raises(ValidationError, match="sha256"):
        Creative(sha256="XYZ", duration_ms=10_000)


def test_house_campaigns_take_no_budget_and_play_all_hours() -> None:
    h = house_campaign("house1", "retailer", [creative(9)], MON, SUN)
    assert h.house and len(h.dayparts) == 168
    with pytest.raises(ValidationError, match="house campaign fills unsold time"):
        campaign(house=True, plays_per_hour=0, budget_plays=10)
    with pytest.raises(ValidationError, match="leave plays_per_hour at 0"):
        campaign(house=True)


def test_rule_refuses_impossible_conditions() -> None:
    with pytest.raises(ValidationError, match="cities is empty"):
        Rule(cities=set())
    with pytest.raises(ValidationError, match=r"min_inches 13\.0 is above max_inches 11\.0"):
        Rule(min_inches=13, max_inches=11)
    with pytest.raises(ValidationError):
        Rule(footfall_tiers={9})
    with pytest.raises(ValidationError):
        Rule(orientations={"square"})


def test_overlap_reported_for_same_priority_over_the_hour() -> None:
    a = campaign(campaign_id="a", plays_per_hour=150, creatives=(creative(1, 15_000),))
    b = campaign(campaign_id="b", plays_per_hour=100, creatives=(creative(2, 15_000),),
                 dayparts="Mon 09-10")
    issues = check_overlaps([a, b], [screen("t1")])
    assert [i.campaign_ids for i in issues] == [("a", "b")]
    assert "ask 3750 s of the 3600 s hour" in issues[0].reason
    assert "2024-05-06 (Mon) 09:00 local time" in issues[0].reason


def test_no_overlap_when_priorities_dayparts_targets_or_flights_differ() -> None:
    a = campaign(campaign_id="a", plays_per_hour=150, creatives=(creative(1, 15_000),),
                 rule=Rule(cities={"Shanghai"}))
    screens = [screen("t1"), screen("t2", city="Beijing")]
    for other in (
        dict(priority=6),
        dict(dayparts="daily 22-24"),
        dict(rule=Rule(cities={"Beijing"})),
        dict(flight_start=date(2024, 6, 1), flight_end=date(2024, 6, 2)),
        dict(plays_per_hour=90),
    ):
        b = campaign(**{"campaign_id": "b", "plays_per_hour": 100,
                        "creatives": (creative(2, 15_000),), **other})
        assert check_overlaps([a, b], screens) == [], other


def test_overlap_reports_unreachable_and_duplicate_campaigns() -> None:
    far = campaign(campaign_id="far", rule=Rule(cities={"Lhasa"}))
    issues = check_overlaps([far, campaign(), campaign()], [screen("t1")])
    assert [(i.campaign_ids, i.reason) for i in issues] == [
        (("c1",), "campaign_id is used by more than one campaign"),
        (("far",), "targets no screen (rule and creative orientations)"),
    ]
    portrait_only = campaign(campaign_id="p", creatives=(creative(3, orientation="portrait"),))
    assert check_overlaps([portrait_only], [screen("t1")])[0].campaign_ids == ("p",)


def _overloaded(camps: list[Campaign], screens: list[Screen]) -> set[tuple[str, ...]]:
    """Brute force: the same-priority sets asking more than an hour somewhere (day, hour)."""
    found = set()
    days = range(min(c.first_day for c in camps), max(c.last_day for c in camps) + 1)
    for s in screens:
        for day in days:
            weekday = date.fromordinal(day).weekday()
            for hour in range(24):
                for prio in range(1, 11):
                    here = [c for c in camps if c.priority == prio and c.rule.matches(s)
                            and c.creatives_for(s.orientation)
                            and s.orientation in c.fits_orientations()
                            and c.first_day <= day <= c.last_day
                            and (weekday, hour) in c.dayparts]
                    ms = sum(c.plays_per_hour * sum(x.duration_ms for x in c.creatives_for(
                        s.orientation)) / len(c.creatives_for(s.orientation)) for c in here)
                    if ms > 3_600_000 + 1e-6:
                        found.add(tuple(sorted(c.campaign_id for c in here)))
    return found


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2), st.integers(60, 240), st.integers(0, 10),
                          st.integers(0, 6), st.sampled_from(["daily 07-10", "Mon-Fri 09-12",
                                                              "Sat-Sun 08-20", "daily 00-24"]),
                          st.sampled_from([None, "Shanghai", "Beijing"]),
                          st.sampled_from(["any", "portrait", "landscape"])),
                min_size=1, max_size=6))
def test_overlaps_agree_with_brute_force(specs: list) -> None:
    camps = [campaign(campaign_id=f"c{k}", priority=prio, plays_per_hour=pph,
                      flight_start=date(2024, 5, 1 + start),
                      flight_end=date(2024, 5, 1 + start + span),
                      dayparts=dayparts, rule=Rule(cities={city}) if city else Rule(),
                      creatives=(creative(k, 15_000, orientation),))
             for k, (prio, pph, start, span, dayparts, city, orientation) in enumerate(specs)
             if _possible(dayparts, start, span)]
    if not camps:
        return
    screens = [screen("t1"), screen("t2", city="Beijing", orientation="portrait")]
    truth = _overloaded(camps, screens)
    event(f"clashes: {bool(truth)}")
    issues = [i for i in check_overlaps(camps, screens) if "hour" in i.reason]
    assert bool(issues) == bool(truth)
    for i in issues:
        assert tuple(sorted(i.campaign_ids)) in truth
    for c in camps:
        mine = [i for i in check_overlaps(camps, screens, involving=c.campaign_id)
                if "hour" in i.reason]
        assert bool(mine) == any(c.campaign_id in t for t in truth)
        assert all(c.campaign_id in i.campaign_ids for i in mine)


def _possible(dayparts: str, start: int, span: int) -> bool:
    days = {date(2024, 5, 1 + start + i).weekday() for i in range(min(span + 1, 7))}
    return any(d in days for d, _ in parse_dayparts(dayparts))
