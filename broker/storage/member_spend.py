"""Reads over memberships, purchases and the points ledger for tiers, segments and reviews.

- `rolling_spend`: a member's spend at a brand (net of refunds) paid in a window; reads the
  purchases index (member_id, brand_id, paid_ms).
- `brand_member_ids`: every member of a brand (RFM counts members with no purchase as lost).
- `membership_keys`: (member_id, brand_id) pages in key order, for jobs that walk every
  membership in batches.
- `order_points_entries`: the points entries of one order (what a fraud reviewer looks at).
"""

from __future__ import annotations

from sqlalchemy import func, select, tuple_

from broker.storage import _points_ledger as core
from broker.storage.database import Database
from broker.storage.loyalty_records import LedgerEntry
from broker.storage.loyalty_schema import brand_memberships, member_purchases, points_ledger

_u = member_purchases.c
_m = brand_memberships.c


async def rolling_spend(db: Database, member_id: str, brand_id: str, since_ms: int,
                        until_ms: int) -> int:
    """Net spend (fen) of the member's purchases at the brand paid in [since_ms, until_ms]."""
    query = select(func.coalesce(func.sum(_u.amount_fen - _u.refunded_fen), 0)).where(
        _u.member_id == member_id, _u.brand_id == brand_id,
        _u.paid_ms >= since_ms, _u.paid_ms <= until_ms)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def brand_member_ids(db: Database, brand_id: str) -> list[str]:
    """Ids of the brand's members, sorted."""
    query = select(_m.member_id).where(_m.brand_id == brand_id).order_by(_m.member_id)
    async with db.read() as conn:
        return list((await conn.execute(query)).scalars())


async def membership_keys(db: Database, *, after: tuple[str, str] | None = None,
                          limit: int = 500) -> list[tuple[str, str]]:
    """Up to `limit` (member_id, brand_id) keys after `after`, in key order."""
    query = select(_m.member_id, _m.brand_id)
    if after is not None:
        query = query.where(tuple_(_m.member_id, _m.brand_id) > tuple_(*after))
    query = query.order_by(_m.member_id, _m.brand_id).limit(limit)
    async with db.read() as conn:
        return [(r[0], r[1]) for r in (await conn.execute(query)).all()]


async def order_points_entries(db: Database, order_id: str) -> list[LedgerEntry]:
    """Every points entry naming the order (earn, redeem, reversals...), oldest first."""
    query = (select(points_ledger).where(points_ledger.c.order_id == order_id)
             .order_by(points_ledger.c.entry_id))
    async with db.read() as conn:
        return [core.entry_from_row(r) for r in (await conn.execute(query)).all()]
