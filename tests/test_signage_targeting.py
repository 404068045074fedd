"""Targeting rules, and the indexes that must agree with the plain definition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.signage import Rule, RuleIndex, Screen, ScreenIndex

CITIES = ["Shanghai", "Beijing", "Urumqi"]
DISTRICTS = ["North", "South", "East"]
FORMATS = ["supermarket", "convenience", "hypermarket"]
TAGS = ["mall", "cbd", "students", "24h"]
ZONES = ["Asia/Shanghai", "Asia/Urumqi", "Asia/Kolkata"]


def screen(device_id: str = "t1", **kw) -> Screen:
    base = dict(store_id="s1", city="Shanghai", district="North", format="supermarket",
                footfall_tier=2, tags=frozenset({"mall", "cbd"}), timezone="Asia/Shanghai",
                screen_inches=10.1, orientation="landscape")
    base.update(kw)
    return Screen(device_id=device_id, **base)


def test_screen_validation() -> None:
    assert screen(tags=["mall"]).tags == frozenset({"mall"})
    with pytest.raises(ValueError, match="orientation"):
        screen(orientation="square")
    with pytest.raises(ValueError, match="unknown timezone"):
        screen(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="tags"):
        screen(tags="mall")


@pytest.mark.parametrize(("rule", "yes", "no"), [
    (Rule(cities={"Shanghai", "Beijing"}), {}, {"city": "Urumqi"}),
    (Rule(districts={"North"}), {}, {"district": "South"}),
    (Rule(formats={"supermarket"}), {}, {"format": "convenience"}),
    (Rule(footfall_tiers={1, 2}), {}, {"footfall_tier": 3}),
    (Rule(tags_any={"students", "cbd"}), {}, {"tags": frozenset({"mall"})}),
    (Rule(tags_all={"mall", "cbd"}), {}, {"tags": frozenset({"mall", "24h"})}),
    (Rule(orientations={"landscape"}), {}, {"orientation": "portrait"}),
    (Rule(min_inches=10.0), {}, {"screen_inches": 9.7}),
    (Rule(max_inches=11.0), {}, {"screen_inches": 12.0}),
    (Rule(min_inches=10.1, max_inches=10.1), {}, {"screen_inches": 12.0}),
    (Rule(), {}, None),
])
def test_each_condition(rule: Rule, yes: dict, no: dict | None) -> None:
    assert rule.matches(screen(**yes))
    index = ScreenIndex([screen("t1", **yes)] + ([screen("t2", **no)] if no else []))
    assert index.device_ids(rule) == {"t1"}
    assert RuleIndex([rule]).matching(screen(**yes)) == [0]
    if no is not None:
        assert not rule.matches(screen(**no))
        assert RuleIndex([rule]).matching(screen(**no)) == []


def test_conditions_combine_with_and() -> None:
    rule = Rule(cities={"Shanghai"}, formats={"supermarket"}, tags_any={"cbd"})
    assert rule.matches(screen())
    assert not rule.matches(screen(format="hypermarket"))
    assert not rule.matches(screen(city="Beijing"))


def test_index_groups_identical_screens_and_counts() -> None:
    screens = [screen(f"t{i}", store_id=f"s{i // 4}") for i in range(10)]
    screens.append(screen("p1", orientation="portrait", store_id="s9"))
    index = ScreenIndex(screens)
    assert len(index.classes) == 2
    assert len(index) == 11
    everything = index.mask(Rule())
    assert index.count(everything) == 11
    assert index.stores(everything) == {"s0", "s1", "s2", "s9"}
    assert index.count(index.mask(Rule(orientations={"portrait"}))) == 1
    assert index.device_ids(Rule(cities={"Nowhere"})) == frozenset()


screens_st = st.lists(
    st.builds(
        lambda i, city, district, fmt, tier, tags, tz, inches, o: Screen(
            f"t{i}", f"s{i % 7}", city, district, fmt, tier, frozenset(tags), tz, inches, o),
        st.integers(0, 10_000), st.sampled_from(CITIES), st.sampled_from(DISTRICTS),
        st.sampled_from(FORMATS), st.integers(1, 5), st.sets(st.sampled_from(TAGS), max_size=3),
        st.sampled_from(ZONES), st.sampled_from([9.7, 10.1, 12.0, 15.6]),
        st.sampled_from(["landscape", "portrait"])),
    max_size=40, unique_by=lambda s: s.device_id)


def _maybe(values: list) -> st.SearchStrategy:
    return st.none() | st.frozensets(st.sampled_from(values), min_size=1)


rules_st = st.builds(
    lambda cities, districts, formats, tiers, tags_any, tags_all, orientations, lo, hi: Rule(
        cities=cities, districts=districts, formats=formats, footfall_tiers=tiers,
        tags_any=tags_any, tags_all=tags_all, orientations=orientations,
        min_inches=lo, max_inches=None if hi is None or (lo is not None and hi < lo) else hi),
    _maybe(CITIES), _maybe(DISTRICTS), _maybe(FORMATS), _maybe([1, 2, 3, 4, 5]), _maybe(TAGS),
    _maybe(TAGS), _maybe(["landscape", "portrait"]),
    st.none() | st.sampled_from([9.0, 10.1, 11.0]), st.none() | st.sampled_from([10.1, 12.0]))


@settings(max_examples=150, deadline=None)
@given(screens_st, st.lists(rules_st, max_size=12))
def test_indexes_equal_the_naive_loop(screens: list[Screen], rules: list[Rule]) -> None:
    index = ScreenIndex(screens)
    by_rules = RuleIndex(rules)
    for rule in rules:
        expected = {s.device_id for s in screens if rule.matches(s)}
        assert index.device_ids(rule) == expected
        assert index.count(index.mask(rule)) == len(expected)
        assert index.stores(index.mask(rule)) == {s.store_id for s in screens if rule.matches(s)}
    for s in screens:
        assert by_rules.matching(s) == [i for i, r in enumerate(rules) if r.matches(s)]
