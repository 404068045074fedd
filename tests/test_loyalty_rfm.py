"""RFM quintile scores and the segments they map to."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.loyalty.rfm import MemberActivity, SegmentRules, score, segment_of

DAY = 86_400_000
NOW = 1_750_000_000_000


def member(i: int, days_ago: int | None, count: int, spend: int) -> MemberActivity:
    last = None if days_ago is None else NOW - days_ago * DAY
    return MemberActivity(f"m{i}", last, count, spend)


def test_quintiles_over_ten_members() -> None:
    members = [member(i, days_ago=200 - 20 * i, count=i + 1, spend=1000 * (i + 1))
               for i in range(10)]
    got = score(members, NOW)
    assert [got[f"m{i}"].r for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [got[f"m{i}"].f for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert got["m9"].segment == "champions"
    assert got["m0"].segment == "lost"  # 200 days since the last purchase


def test_ties_get_equal_scores_and_a_lone_member_is_middling() -> None:
    members = [member(i, 10, 3, 5000) for i in range(7)]
    got = score(members, NOW)
    assert {(s.r, s.f, s.m) for s in got.values()} == {(3, 3, 3)}
    assert score([member(0, 50, 1, 100)], NOW)["m0"].r == 3


def test_segments_in_a_mixed_group() -> None:
    members = [
        member(0, 2, 20, 90_000),     # recent, frequent, big: champions
        member(1, 5, 1, 500),         # bought within 30 days: active
        member(2, 100, 12, 60_000),   # R3, F4: bought often, not for 100 days: at risk
        member(3, 120, 1, 3000),      # R2, F2: sleeping
        member(4, 170, 1, 1000),      # R2, F2: sleeping (two members are further gone)
        member(5, 400, 30, 10**6),    # beyond 180 days: lost however good before
        member(6, None, 0, 0),        # no purchase in the window: lost
        member(7, 60, 3, 5000),       # R4: active
        member(8, 70, 2, 2000),       # R4: active
        member(9, 80, 6, 8000),       # R3, F4: at risk
    ]
    got = score(members, NOW)
    assert {k: v.segment for k, v in got.items()} == {
        "m0": "champions", "m1": "active", "m2": "at_risk", "m3": "sleeping", "m4": "sleeping",
        "m5": "lost", "m6": "lost", "m7": "active", "m8": "active", "m9": "at_risk"}
    assert (got["m2"].r, got["m2"].f) == (3, 4)
    assert (got["m3"].r, got["m3"].f) == (2, 2)
    assert (got["m4"].r, got["m4"].f) == (2, 2)
    assert got["m6"].days_since_purchase is None and got["m6"].r == 1
    assert got["m1"].days_since_purchase == 5


@pytest.mark.parametrize(("r", "f", "m", "days", "segment"), [
    (5, 5, 5, 40, "champions"), (4, 4, 4, 40, "champions"), (4, 3, 5, 40, "active"),
    (1, 1, 1, 10, "active"), (5, 5, 5, 10, "champions"), (5, 5, 5, 180, "lost"),
    (3, 3, 1, 60, "at_risk"), (3, 2, 5, 60, "sleeping"), (1, 2, 5, 60, "lost"),
    (1, 3, 1, 60, "at_risk"), (2, 1, 1, 60, "sleeping"), (5, 5, 5, None, "lost"),
])
def test_segment_rules(r: int, f: int, m: int, days: int | None, segment: str) -> None:
    assert segment_of(r, f, m, days, SegmentRules()) == segment


def test_everyone_recent_means_nobody_is_lost() -> None:
    members = [member(i, days_ago=i, count=1, spend=100) for i in range(20)]
    assert {s.segment for s in score(members, NOW).values()} == {"active"}


def test_duplicate_members_are_refused() -> None:
    with pytest.raises(ValueError):
        score([member(0, 1, 1, 1), member(0, 2, 2, 2)], NOW)


activity = st.tuples(st.none() | st.integers(0, 1000), st.integers(0, 50),
                     st.integers(0, 10**7))


@settings(max_examples=200, deadline=None)
@given(st.lists(activity, min_size=1, max_size=40), st.randoms())
def test_score_invariants(rows: list[tuple[int | None, int, int]], rnd: object) -> None:
    members = [member(i, *row) for i, row in enumerate(rows)]
    got = score(members, NOW)
    assert set(got) == {m.member_id for m in members}
    for s in got.values():
        assert {s.r, s.f, s.m} <= {1, 2, 3, 4, 5}
    for a in members:
        for b in members:
            sa, sb = got[a.member_id], got[b.member_id]
            a_last = -1 if a.last_purchase_ms is None else a.last_purchase_ms
            b_last = -1 if b.last_purchase_ms is None else b.last_purchase_ms
            if a_last > b_last:
                assert sa.r >= sb.r
            if a_last == b_last:
                assert sa.r == sb.r
            if a.purchase_count > b.purchase_count:
                assert sa.f >= sb.f
            if a.spend_fen > b.spend_fen:
                assert sa.m >= sb.m
    shuffled = list(members)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert score(shuffled, NOW) == got
