"""Forecasts against hand-computed cases, and the local-time counting underneath them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.signage import Campaign, Creative, Rule, Screen, ScreenIndex, forecast
from broker.signage.campaigns import parse_dayparts
from broker.signage.forecast import forecast_settings
from broker.signage.localtime import calendar, masks_of, slot_eligible

MON, SUN = date(2024, 5, 6), date(2024, 5, 12)


def screen(device_id: str, store: str, tz: str, orientation: str = "landscape",
           city: str = "Shanghai") -> Screen:
    return Screen(device_id, store, city, "D1", "supermarket", 2, frozenset(), tz, 10.1,
                  orientation)


INDEX = ScreenIndex([
    screen("t1", "s1", "Asia/Shanghai"),
    screen("t2", "s1", "Asia/Shanghai"),
    screen("t4", "s1", "Asia/Shanghai", orientation="portrait"),
    screen("t3", "s2", "Asia/Urumqi", city="Urumqi"),
    screen("t9", "s9", "Asia/Shanghai", city="Beijing"),
])


def campaign(**kw) -> Campaign:
    base = dict(campaign_id="c1", brand_id="acme", name="n", flight_start=MON, flight_end=SUN,
                dayparts="Mon-Fri 07-10", plays_per_hour=4,
                creatives=(Creative(sha256="a" * 64, duration_ms=10_000),),
                rule=Rule(cities={"Shanghai", "Urumqi"}))
    base.update(kw)
    return Campaign(**base)


def test_plain_forecast() -> None:
    f = forecast(campaign(), INDEX)
    assert (f.stores, f.screens) == (2, 4)
    assert f.screens_by_timezone == {"Asia/Shanghai": 3, "Asia/Urumqi": 1}
    assert f.screen_hours == 4 * 5 * 3
    assert f.impressions == 4 * 5 * 3 * 4 == 240
    assert list(f.per_day.values()) == [48, 48, 48, 48, 48, 0, 0]
    assert min(f.per_day) == MON and max(f.per_day) == SUN
    assert f.average_per_day == 240 / 7
    assert f.limited_by is None


def test_frequency_cap_limits_each_screen_day() -> None:
    f = forecast(campaign(frequency_cap_per_day=10), INDEX)
    assert f.impressions == 4 * 5 * 10
    assert f.limited_by == "frequency_cap"


def test_budget_limits_the_whole_and_is_spread_over_the_days() -> None:
    f = forecast(campaign(budget_plays=100), INDEX)
    assert f.impressions == 100
    assert f.limited_by == "budget"
    assert list(f.per_day.values()) == [20, 20, 20, 20, 20, 0, 0]
    assert forecast(campaign(budget_plays=300), INDEX).impressions == 240
    assert forecast(campaign(budget_plays=100), INDEX, delivered=40).impressions == 60


def test_orientation_of_the_creatives_limits_the_screens() -> None:
    c = campaign(creatives=(Creative(sha256="b" * 64, duration_ms=10_000,
                                     orientation="landscape"),))
    f = forecast(c, INDEX)
    assert (f.stores, f.screens, f.impressions) == (2, 3, 180)


def test_forecast_from_now_counts_what_is_left_in_each_timezone() -> None:
    # Wednesday 08:30 in Shanghai = 00:30 UTC = 06:30 in Urumqi
    now = int(datetime(2024, 5, 8, 0, 30, tzinfo=UTC).timestamp() * 1000)
    f = forecast(campaign(), INDEX, from_ms=now)
    # Shanghai: Wed 09-10 then Thu, Fri (7 hours); Urumqi: Wed 07-10 then Thu, Fri (9 hours)
    assert f.impressions == 3 * 7 * 4 + 1 * 9 * 4
    assert min(f.per_day) == date(2024, 5, 8)


def test_forecast_settings_without_a_campaign() -> None:
    f = forecast_settings(INDEX, rule=Rule(), flight_start=MON, flight_end=MON,
                          dayparts=parse_dayparts("daily 00-24"), plays_per_hour=1)
    assert (f.screens, f.impressions) == (5, 5 * 24)


def test_daylight_saving_days_have_23_and_25_hours() -> None:
    index = ScreenIndex([screen("b1", "s1", "Europe/Berlin", city="Berlin")])
    for day, hours in ((date(2024, 3, 31), 23), (date(2024, 10, 27), 25), (MON, 24)):
        f = forecast_settings(index, rule=Rule(), flight_start=day, flight_end=day,
                              dayparts=parse_dayparts("daily 00-24"), plays_per_hour=1)
        assert f.impressions == hours, day
    # 02:00-03:00 does not exist on 31 March in Berlin
    f = forecast_settings(index, rule=Rule(), flight_start=date(2024, 3, 25),
                          flight_end=date(2024, 4, 7), dayparts=parse_dayparts("Sun 02-03"),
                          plays_per_hour=1)
    assert f.impressions == 1


ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
         "Australia/Lord_Howe"]
H2024 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) // 3600


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(ZONES), st.integers(0, 360), st.integers(0, 40),
       st.sets(st.tuples(st.integers(0, 6), st.integers(0, 23)), min_size=1, max_size=60),
       st.integers(-24 * 5, 24 * 45), st.integers(1, 24 * 50), st.booleans(), st.booleans())
def test_hour_counting_equals_enumeration(zone: str, start: int, length: int, dayparts: set,
                                          offset: int, span: int, open_from: bool,
                                          open_to: bool) -> None:
    cal = calendar(zone)
    first = date(2024, 1, 1).toordinal() + start
    last = first + length
    masks = masks_of(dayparts)
    lo = H2024 + start * 24 + offset
    hi = lo + span
    got = cal.count_hours(masks, first, last, None if open_from else lo, None if open_to else hi)
    scan_lo = H2024 + start * 24 - 48 if open_from else lo
    scan_hi = H2024 + (start + length) * 24 + 48 if open_to else hi
    expected = sum(1 for h in range(scan_lo, scan_hi)
                   if slot_eligible(cal.slot(h), first, last, masks))
    assert got == expected
