"""Stored value: a member's prepaid fen (what face pay spends), an append-only ledger.

Same rules as the points ledger (`points`): each entry is written once per (kind, ref) - a
repeat returns the first entry, the same key with other content raises `LedgerConflictError` -
and `members.stored_value_fen` caches the sum in the same transaction. A debit (`payment`,
negative `adjust`) is one conditional UPDATE (`... WHERE stored_value_fen >= n`), so concurrent
payments never overdraw (a CHECK keeps the column >= 0 as a last line). Refs: the top-up's
payment id for `topup`, the `out_trade_no` for `payment`, the refund id for `refund`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import func, select, update

from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_errors import InsufficientBalanceError, LedgerConflictError
from broker.storage.loyalty_records import StoredValueEntry
from broker.storage.loyalty_schema import members, stored_value_ledger

_s = stored_value_ledger.c
_mb = members.c


def _entry(row: Any) -> StoredValueEntry:
    return StoredValueEntry(**row._mapping)


async def post_stored_value(db: Database,
                            entry: StoredValueEntry) -> tuple[StoredValueEntry, bool]:
    """Append one entry exactly once: (stored entry, True), or (first entry, False) on repeat.

    Raises `NotFoundError` (no member), `LedgerConflictError` (the key holds another entry),
    `InsufficientBalanceError` (a debit over the balance; nothing written).
    """
    values = asdict(entry)
    del values["entry_id"]
    stmt = (dialect_insert(db.dialect, stored_value_ledger).values(values)
            .on_conflict_do_nothing(index_elements=["kind", "ref"]).returning(_s.entry_id))
    member = _mb.member_id == entry.member_id
    async with db.write() as conn:
        if (await conn.execute(select(_mb.member_id).where(member))).first() is None:
            raise NotFoundError(f"member {entry.member_id!r} does not exist")
        row = (await conn.execute(stmt)).first()
        if row is None:
            stored = _entry((await conn.execute(select(stored_value_ledger).where(
                _s.kind == entry.kind, _s.ref == entry.ref))).one())
            if (stored.member_id, stored.delta) != (entry.member_id, entry.delta):
                raise LedgerConflictError(
                    f"stored value {entry.kind} {entry.ref!r} exists already as "
                    f"{stored.delta:+d} for {stored.member_id}")
            return stored, False
        where = [member]
        if entry.delta < 0:
            where.append(_mb.stored_value_fen >= -entry.delta)
        stmt_u = (update(members).where(*where)
                  .values(stored_value_fen=_mb.stored_value_fen + entry.delta))
        if (await conn.execute(stmt_u)).rowcount != 1:
            have = (await conn.execute(select(_mb.stored_value_fen).where(member))).scalar_one()
            raise InsufficientBalanceError(f"stored value of {entry.member_id}", -entry.delta,
                                           have)
    return replace(entry, entry_id=row[0]), True


async def stored_value_balance(db: Database, member_id: str) -> int:
    """The member's stored value in fen; `NotFoundError` for an unknown member."""
    async with db.read() as conn:
        row = (await conn.execute(select(_mb.stored_value_fen)
                                  .where(_mb.member_id == member_id))).first()
    if row is None:
        raise NotFoundError(f"member {member_id!r} does not exist")
    return int(row[0])


async def list_stored_value_entries(db: Database, member_id: str,
                                    limit: int = 100) -> list[StoredValueEntry]:
    """The member's entries, newest first."""
    query = (select(stored_value_ledger).where(_s.member_id == member_id)
             .order_by(_s.entry_id.desc()).limit(limit))
    async with db.read() as conn:
        return [_entry(r) for r in (await conn.execute(query)).all()]


async def verify_stored_value_balances(db: Database) -> list[tuple[str, int, int]]:
    """Members whose cached stored value differs from the sum of their entries:
    (member_id, cached, summed). Empty when everything adds up."""
    sums = (select(_s.member_id, func.sum(_s.delta).label("total"))
            .group_by(_s.member_id).subquery())
    query = (select(_mb.member_id, _mb.stored_value_fen, func.coalesce(sums.c.total, 0))
             .select_from(members.outerjoin(sums, sums.c.member_id == _mb.member_id))
             .order_by(_mb.member_id))
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [(r[0], int(r[1]), int(r[2])) for r in rows if int(r[1]) != int(r[2])]
