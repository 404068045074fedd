"""RFM scores and segments of a brand's members over a window.

Scores. Each of recency (time since the last purchase; more recent is better), frequency
(purchase count) and monetary value (spend) is scored 1..5 by quintile of its mid-rank among
the members: with `below` members strictly worse and `equal` members tied (itself included)
out of `n`, the score is 1 + floor(5 x (below + equal / 2) / n). Equal values get equal scores,
a strictly better value never gets a lower score, a lone member (or an all-equal group) scores
3, and the order the members are given in does not matter. A member with no purchase in the
window (`last_purchase_ms` None) has the worst recency.

Segments, first rule that matches (days are whole days since the last purchase):

1. no purchase in the window, or `lost_after_days` (180) or more -> `lost`;
2. within `active_within_days` (30), or R >= 4 -> `champions` when R, F and M are all >= 4,
   otherwise `active`;
3. R = 1 and F <= 2 -> `lost` (among the least recent and never frequent);
4. F >= 3 -> `at_risk` (bought often, not lately);
5. otherwise -> `sleeping`.

Scores are relative to the group, the day limits are absolute, so a shopper who bought last
week is never called lost because everyone else bought yesterday.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Segment = Literal["champions", "active", "at_risk", "sleeping", "lost"]
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class MemberActivity:
    member_id: str
    last_purchase_ms: int | None
    purchase_count: int
    spend_fen: int


@dataclass(frozen=True, slots=True)
class RfmScore:
    r: int
    f: int
    m: int
    days_since_purchase: int | None
    segment: Segment


@dataclass(frozen=True, slots=True)
class SegmentRules:
    active_within_days: int = 30
    lost_after_days: int = 180


def quintile_scores(values: list[int]) -> list[int]:
    """Score 1..5 of each value by mid-rank quintile (higher value, higher score)."""
    ordered = sorted(values)
    n = len(ordered)
    scores = []
    for v in values:
        below = bisect_left(ordered, v)
        equal = bisect_right(ordered, v) - below
        scores.append(min(5, 1 + (10 * below + 5 * equal) // (2 * n)))
    return scores


def segment_of(r: int, f: int, m: int, days: int | None, rules: SegmentRules) -> Segment:
    if days is None or days >= rules.lost_after_days:
        return "lost"
    if days <= rules.active_within_days or r >= 4:
        return "champions" if min(r, f, m) >= 4 else "active"
    if r == 1 and f <= 2:
        return "lost"
    if f >= 3:
        return "at_risk"
    return "sleeping"


def score(members: Iterable[MemberActivity], now_ms: int,
          rules: SegmentRules = SegmentRules()) -> dict[str, RfmScore]:
    """RFM score and segment of every member at `now_ms`."""
    members = list(members)
    ids = [m.member_id for m in members]
    if len(set(ids)) != len(ids):
        raise ValueError("member ids must be unique")
    if any(m.purchase_count < 0 for m in members):
        raise ValueError("purchase_count must not be negative")
    oldest = min((m.last_purchase_ms for m in members if m.last_purchase_ms is not None),
                 default=0)
    # recency as a "higher is better" number: never-purchased ranks below every purchase
    recency = [oldest - 1 if m.last_purchase_ms is None else m.last_purchase_ms
               for m in members]
    r_scores = quintile_scores(recency)
    f_scores = quintile_scores([m.purchase_count for m in members])
    m_scores = quintile_scores([m.spend_fen for m in members])
    out: dict[str, RfmScore] = {}
    for i, member in enumerate(members):
        days = (None if member.last_purchase_ms is None
                else max(0, now_ms - member.last_purchase_ms) // DAY_MS)
        out[member.member_id] = RfmScore(
            r_scores[i], f_scores[i], m_scores[i], days,
            segment_of(r_scores[i], f_scores[i], m_scores[i], days, rules))
    return out
