"""Impossible travel between two uses of one payment credential."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.loyalty.fraud import CredentialUse, GeoPoint, check_travel, haversine_km

HOUR = 3_600_000
STORES = {
    "sh-01": GeoPoint(31.2304, 121.4737),   # Shanghai, People's Square
    "sh-02": GeoPoint(31.2335, 121.4781),   # about 550 m away
    "sh-03": GeoPoint(31.1443, 121.8083),   # Pudong airport, about 33 km
    "bj-01": GeoPoint(39.9042, 116.4074),   # Beijing, about 1070 km
}


def use(store: str, at: int, payer: str = "p-1") -> CredentialUse:
    return CredentialUse(payer, store, at)


def test_known_distance() -> None:
    km = haversine_km(STORES["sh-01"], STORES["bj-01"])
    assert 1060 < km < 1075


def test_shanghai_to_beijing_in_half_an_hour_is_flagged() -> None:
    v = check_travel(use("sh-01", 0), use("bj-01", HOUR // 2), STORES)
    assert v.flagged and v.hours == 0.5 and 2100 < v.kmh < 2160


def test_shanghai_to_beijing_by_plane_is_not_flagged() -> None:
    v = check_travel(use("sh-01", 0), use("bj-01", 2 * HOUR), STORES)
    assert not v.flagged


def test_neighbouring_shops_at_the_same_moment_are_not_flagged() -> None:
    v = check_travel(use("sh-01", 0), use("sh-02", 0), STORES)
    assert not v.flagged and 0.3 < v.km < 1.0 and v.kmh == math.inf


def test_clock_slack_for_a_short_hop() -> None:
    # 33 km in 1 minute: 1980 km/h raw, but with 5 minutes of clock slack it is 330 km/h
    assert not check_travel(use("sh-01", 0), use("sh-03", 60_000), STORES).flagged
    assert check_travel(use("sh-01", 0), use("sh-03", 60_000), STORES, slack_ms=0).flagged


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        check_travel(use("sh-01", 0), use("sh-02", 0, payer="p-2"), STORES)
    with pytest.raises(ValueError):
        check_travel(use("sh-01", 0), use("xx-99", 0), STORES)
    with pytest.raises(ValueError):
        GeoPoint(91.0, 0.0)


points = st.builds(GeoPoint, st.floats(-90, 90), st.floats(-180, 180))
times = st.integers(0, 10**13)


@given(points, points, times, times)
def test_verdict_is_symmetric(a: GeoPoint, b: GeoPoint, ta: int, tb: int) -> None:
    geo = {"a": a, "b": b}
    one = check_travel(use("a", ta), use("b", tb), geo)
    other = check_travel(use("b", tb), use("a", ta), geo)
    assert one == other
    assert 0 <= one.km <= math.pi * 6371.0088 + 1e-6


@given(points, times, times)
def test_same_store_is_never_flagged(a: GeoPoint, ta: int, tb: int) -> None:
    v = check_travel(use("a", ta), use("a", tb), {"a": a})
    assert not v.flagged and v.km == 0.0 and v.kmh == 0.0


@given(points, points, times, st.integers(0, 10**9), st.integers(1, 10**9))
def test_more_time_never_turns_a_pass_into_a_flag(a: GeoPoint, b: GeoPoint, t: int, gap: int,
                                                  extra: int) -> None:
    geo = {"a": a, "b": b}
    sooner = check_travel(use("a", t), use("b", t + gap), geo)
    later = check_travel(use("a", t), use("b", t + gap + extra), geo)
    assert later.flagged <= sooner.flagged
