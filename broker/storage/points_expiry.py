"""Points expiry in storage: finding memberships with old points and debiting them once.

`expire_points` reads the membership's posted entries and appends the `expire` debit in one
write transaction that holds the membership row (the write lock on SQLite, a row lock on
PostgreSQL, which every ledger write also takes), so what it decides on is what it debits:
two job runs (two controller processes) never expire the same points twice. The amount and
ref come from the caller's `decide` (the rules are pure logic elsewhere); the debit is
checked like any other (`InsufficientBalanceError` when it would overdraw). A ref that was
used already (held points released after their lot's expiry date was debited) gets a '.n'
suffix, so the exactly-once key stays unique per debit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select, tuple_

from broker.storage import _points_ledger as core
from broker.storage.database import Database
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_records import LedgerEntry
from broker.storage.loyalty_schema import brand_memberships, points_ledger

_p = points_ledger.c
_m = brand_memberships.c
Decide = Callable[[list[LedgerEntry]], "tuple[int, str] | None"]


async def memberships_with_credits_before(
    db: Database, before_ms: int, *, after: tuple[str, str] | None = None, limit: int = 500,
) -> list[tuple[str, str]]:
    """(member_id, brand_id) of memberships with available points and a posted credit older
    than `before_ms` (the only ones that can have points to expire), in key order."""
    old_credit = (select(_p.entry_id).where(
        _p.member_id == _m.member_id, _p.brand_id == _m.brand_id, _p.status == "posted",
        _p.delta > 0, _p.created_ms < before_ms).exists())
    query = select(_m.member_id, _m.brand_id).where(_m.points_available > 0, old_credit)
    if after is not None:
        query = query.where(tuple_(_m.member_id, _m.brand_id) > tuple_(*after))
    query = query.order_by(_m.member_id, _m.brand_id).limit(limit)
    async with db.read() as conn:
        return [(r[0], r[1]) for r in (await conn.execute(query)).all()]


def _posted(member_id: str, brand_id: str) -> Select[Any]:
    return (select(points_ledger)
            .where(_p.member_id == member_id, _p.brand_id == brand_id, _p.status == "posted")
            .order_by(_p.created_ms, _p.entry_id))


async def posted_entries(db: Database, member_id: str, brand_id: str) -> list[LedgerEntry]:
    """The membership's posted entries, oldest first (what expiry replays)."""
    async with db.read() as conn:
        rows = (await conn.execute(_posted(member_id, brand_id))).all()
    return [core.entry_from_row(r) for r in rows]


async def expire_points(db: Database, member_id: str, brand_id: str, now_ms: int,
                        decide: Decide) -> LedgerEntry | None:
    """Debit what `decide(posted entries)` says as (points, ref), once; None when it says
    nothing is due. `NotFoundError` when there is no such membership."""
    async with db.write() as conn:
        locked = (await conn.execute(
            select(_m.member_id).where(_m.member_id == member_id, _m.brand_id == brand_id)
            .with_for_update())).first()
        if locked is None:
            raise NotFoundError(f"{member_id} is not a member of {brand_id!r}")
        rows = (await conn.execute(_posted(member_id, brand_id))).all()
        decision = decide([core.entry_from_row(r) for r in rows])
        if decision is None:
            return None
        points, ref = decision
        unique, n = ref, 1
        while await core.entry_by_key(conn, brand_id, "expire", unique) is not None:
            n += 1
            unique = f"{ref}.{n}"
        entry, _ = await core.post(conn, db.dialect, LedgerEntry(
            member_id, brand_id, -points, "expire", unique, now_ms))
    return entry
