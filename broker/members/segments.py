"""A brand's members by RFM segment (loop-bound read): `rfm.score` over `rfm_inputs`.

Every member of the brand is scored over the last `window_days` (365 by default): members
with no purchase in the window count (as `lost`), since they are who a win-back campaign is
for. Scores are relative to the brand's own members.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import get_args

from broker.loyalty.rfm import DAY_MS, MemberActivity, RfmScore, Segment, score
from broker.storage import member_spend
from broker.storage.database import Database
from broker.storage.purchases import rfm_inputs

SEGMENTS: tuple[Segment, ...] = get_args(Segment)
DEFAULT_WINDOW_DAYS = 365


@dataclass(frozen=True, slots=True)
class SegmentCounts:
    brand_id: str
    as_of_ms: int
    window_days: int
    members: int
    segments: dict[str, int]


async def member_scores(db: Database, brand_id: str, now_ms: int,
                        window_days: int = DEFAULT_WINDOW_DAYS) -> dict[str, RfmScore]:
    """Every member of the brand with their RFM score and segment at `now_ms`."""
    rows = {r.member_id: r for r in await rfm_inputs(
        db, brand_id, now_ms - window_days * DAY_MS, now_ms + 1)}
    activity = []
    for member_id in await member_spend.brand_member_ids(db, brand_id):
        row = rows.get(member_id)
        activity.append(MemberActivity(member_id, None, 0, 0) if row is None else
                        MemberActivity(member_id, row.last_purchase_ms, row.purchases,
                                       row.spend_fen))
    return score(activity, now_ms)


async def segment_counts(db: Database, brand_id: str, now_ms: int,
                         window_days: int = DEFAULT_WINDOW_DAYS) -> SegmentCounts:
    scores = await member_scores(db, brand_id, now_ms, window_days)
    counted = Counter(s.segment for s in scores.values())
    return SegmentCounts(brand_id, now_ms, window_days, len(scores),
                         {name: counted.get(name, 0) for name in SEGMENTS})


async def members_in_segment(db: Database, brand_id: str, segment: Segment, now_ms: int,
                             window_days: int = DEFAULT_WINDOW_DAYS) -> list[str]:
    """Ids of the brand's members in `segment`, sorted."""
    scores = await member_scores(db, brand_id, now_ms, window_days)
    return sorted(m for m, s in scores.items() if s.segment == segment)
