"""The points ledger's core, on a connection inside a write transaction (private).

Every change to `points_ledger` goes through here, so the cached balance of a membership
(`points_available`, `points_held`) always moves with its entries in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from broker.storage._sql import dialect_insert
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_errors import InsufficientBalanceError, LedgerConflictError
from broker.storage.loyalty_records import Balance, LedgerEntry
from broker.storage.loyalty_schema import brand_memberships, points_ledger

CHECKED_DEBIT_KINDS = frozenset({"redeem", "expire", "adjust"})  # may not overdraw
HOLDABLE_KINDS = ("earn", "refund_reversal")  # the entries of an order under fraud review
_BALANCE_COLUMN = {"posted": "points_available", "held": "points_held"}
_m = brand_memberships.c
_p = points_ledger.c


# pg_advisory_xact_lock(classid, objid) namespace of the per-order locks ('LOY' as an int)
ORDER_LOCK_CLASS = 0x4C4F59
_ORDER_LOCK = text("SELECT pg_advisory_xact_lock(:cls, hashtext(:order_id))")


async def lock_orders(conn: AsyncConnection, dialect: str, order_ids: Sequence[str]) -> None:
    """Serialise the transactions that credit, hold or flag these orders (PostgreSQL).

    Crediting an order checks for open fraud flags while flagging it holds the order's
    entries; under READ COMMITTED neither would see the other's uncommitted row, and the
    points would stay posted. A transaction-scoped advisory lock per order (taken in sorted
    order, so never a deadlock) closes that gap. SQLite's write lock serialises already.
    """
    if dialect != "postgresql":
        return
    for order_id in sorted(set(order_ids)):
        await conn.execute(_ORDER_LOCK, {"cls": ORDER_LOCK_CLASS, "order_id": order_id})


def _membership_where(member_id: str, brand_id: str) -> ColumnElement[bool]:
    return and_(_m.member_id == member_id, _m.brand_id == brand_id)


def entry_from_row(row: Any) -> LedgerEntry:
    return LedgerEntry(**row._mapping)


async def read_balance(conn: AsyncConnection, member_id: str, brand_id: str) -> Balance | None:
    query = select(_m.points_available, _m.points_held).where(
        _membership_where(member_id, brand_id))
    row = (await conn.execute(query)).first()
    return None if row is None else Balance(available=row[0], held=row[1])


async def entry_by_key(conn: AsyncConnection, brand_id: str, kind: str,
                       ref: str) -> LedgerEntry | None:
    query = select(points_ledger).where(_p.brand_id == brand_id, _p.kind == kind, _p.ref == ref)
    row = (await conn.execute(query)).first()
    return None if row is None else entry_from_row(row)


def same_request(stored: LedgerEntry, wanted: LedgerEntry) -> bool:
    return (stored.member_id, stored.delta, stored.order_id) == (
        wanted.member_id, wanted.delta, wanted.order_id)


def conflict(stored: LedgerEntry, wanted: LedgerEntry) -> LedgerConflictError:
    return LedgerConflictError(
        f"points {wanted.kind} {wanted.ref!r} at {wanted.brand_id!r} exists already as entry "
        f"{stored.entry_id} ({stored.delta:+d} for {stored.member_id}, order "
        f"{stored.order_id!r}); asked {wanted.delta:+d} for {wanted.member_id}, order "
        f"{wanted.order_id!r}"
    )


async def post(conn: AsyncConnection, dialect: str,
               entry: LedgerEntry) -> tuple[LedgerEntry, bool]:
    """Append `entry` once: (stored entry, True) or, for a repeat, (the first entry, False).

    Raises `NotFoundError` (no membership), `LedgerConflictError` (key taken by another
    request), `InsufficientBalanceError` (a checked debit over the available points).
    """
    if entry.status != "posted" and entry.kind not in HOLDABLE_KINDS:
        raise ValueError(f"only {HOLDABLE_KINDS} entries can be stored {entry.status!r}")
    if await read_balance(conn, entry.member_id, entry.brand_id) is None:
        raise NotFoundError(f"{entry.member_id} is not a member of {entry.brand_id!r}")
    values = asdict(entry)
    del values["entry_id"]
    stmt = (dialect_insert(dialect, points_ledger).values(values)
            .on_conflict_do_nothing(index_elements=["brand_id", "kind", "ref"])
            .returning(_p.entry_id))
    # On PostgreSQL a concurrent insert of the same key makes this wait for that transaction;
    # once it commits this inserts nothing and the next statement sees its row.
    row = (await conn.execute(stmt)).first()
    if row is None:
        stored = await entry_by_key(conn, entry.brand_id, entry.kind, entry.ref)
        assert stored is not None
        if not same_request(stored, entry):
            raise conflict(stored, entry)
        return stored, False
    column = _BALANCE_COLUMN.get(entry.status)
    if column is not None:
        where = _membership_where(entry.member_id, entry.brand_id)
        checked = entry.delta < 0 and entry.kind in CHECKED_DEBIT_KINDS
        if checked:  # one conditional UPDATE: row-locked (PostgreSQL), so never overdrawn
            where = and_(where, _m.points_available >= -entry.delta)
        stmt_u = update(brand_memberships).where(where).values(
            {column: getattr(_m, column) + entry.delta})
        if (await conn.execute(stmt_u)).rowcount != 1:
            balance = await read_balance(conn, entry.member_id, entry.brand_id)
            raise InsufficientBalanceError(
                f"points of {entry.member_id} at {entry.brand_id!r}", -entry.delta,
                0 if balance is None else balance.available)
    return replace(entry, entry_id=row[0]), True


async def restatus(conn: AsyncConnection, where: ColumnElement[bool],
                   from_statuses: tuple[str, ...], to_status: str,
                   now_ms: int) -> list[LedgerEntry]:
    """Move the matching entries in `from_statuses` to `to_status`, balances with them.

    Rows are locked (PostgreSQL) and updated in entry order, memberships in key order, so two
    concurrent calls cannot deadlock. Returns the entries as changed.
    """
    query = (select(points_ledger)
             .where(where, _p.status.in_(from_statuses), _p.status != to_status)
             .order_by(_p.entry_id).with_for_update())
    found = [entry_from_row(r) for r in (await conn.execute(query)).all()]
    moves: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    changed: list[LedgerEntry] = []
    for entry in found:
        stmt = (update(points_ledger)
                .where(_p.entry_id == entry.entry_id, _p.status == entry.status)
                .values(status=to_status, status_ms=now_ms))
        if (await conn.execute(stmt)).rowcount != 1:
            continue
        key = (entry.member_id, entry.brand_id)
        if entry.status in _BALANCE_COLUMN:
            moves[key][_BALANCE_COLUMN[entry.status]] -= entry.delta
        if to_status in _BALANCE_COLUMN:
            moves[key][_BALANCE_COLUMN[to_status]] += entry.delta
        changed.append(replace(entry, status=to_status, status_ms=now_ms))
    for (member_id, brand_id), deltas in sorted(moves.items()):
        values = {name: getattr(_m, name) + d for name, d in deltas.items() if d}
        if values:
            await conn.execute(update(brand_memberships)
                               .where(_membership_where(member_id, brand_id)).values(values))
    return changed


def order_entries(order_ids: Sequence[str]) -> ColumnElement[bool]:
    """The holdable entries (earn, refund reversals) of these orders, at any brand."""
    return and_(_p.order_id.in_(sorted(set(order_ids))), _p.kind.in_(HOLDABLE_KINDS))
