"""Points: an append-only ledger per (member, brand), credited exactly once, never overdrawn.

- Every entry has an exactly-once key (brand_id, kind, ref): crediting the same paid order
  again (a duplicate notification, a restart, two controller processes racing) inserts nothing
  and returns the first entry (`INSERT ... ON CONFLICT DO NOTHING`, so it holds across
  concurrent PostgreSQL transactions too). The same key with different content raises
  `LedgerConflictError`. Refs: the order id for `earn` of an order, 'receipt:{token}' for a
  receipt claim, a points-application id for `redeem` (returning it uses the same ref),
  the provider's refund id for `refund_reversal`.
- The balance is the sum of the entries, cached on the membership row in the same transaction
  (see `loyalty_schema`). `available` counts posted entries, `held` entries under fraud review;
  voided entries count nowhere. `verify_points_balances` recomputes every sum.
- Debits (`redeem`, `expire`, negative `adjust`) are one conditional UPDATE of the cached
  balance (`... WHERE points_available >= n`) in the transaction that appends the entry:
  concurrent redeems queue on the row lock (PostgreSQL) or the write lock (SQLite) and can never
  overdraw. A `refund_reversal` is not checked: it may leave `available` negative when the
  member spent the points already (the debt is netted by later earnings).
- Fraud review moves an order's `earn`/`refund_reversal` entries posted -> held -> posted
  (released) or -> void (confirmed fraud). Points credited for an order that an open fraud flag
  names are stored held at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, update

from broker.storage import _points_ledger as core
from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_errors import LedgerConflictError
from broker.storage.loyalty_records import Balance, LedgerEntry, PurchaseRecord
from broker.storage.loyalty_schema import (
    brand_memberships,
    fraud_flags,
    member_purchases,
    points_ledger,
)

_p = points_ledger.c
_u = member_purchases.c


async def post_points(db: Database, entry: LedgerEntry) -> tuple[LedgerEntry, bool]:
    """Append one entry exactly once: (stored entry, True), or (first entry, False) on repeat.

    For any kind (`earn` bonus, `redeem`, `expire`, `adjust`...). Raises `NotFoundError` (no
    membership), `LedgerConflictError`, `InsufficientBalanceError` (debit over `available`).
    """
    async with db.write() as conn:
        return await core.post(conn, db.dialect, entry)


async def credit_order(
    db: Database, *, member_id: str, brand_id: str, order_id: str, amount_fen: int,
    points: int, paid_ms: int, store_id: str | None = None, now_ms: int | None = None,
) -> tuple[LedgerEntry | None, bool]:
    """Record a paid order's purchase and credit its points, once, in one transaction.

    Returns (the `earn` entry or None when `points` is 0, True when this call wrote it). The
    entry is stored held when an open fraud flag names the order. `NotFoundError` when the
    member has not joined the brand; `LedgerConflictError` when the order was credited to
    another member or with other points.
    """
    now = paid_ms if now_ms is None else now_ms
    purchase = PurchaseRecord(brand_id, order_id, member_id, amount_fen, paid_ms,
                              store_id=store_id)
    if type(points) is not int or points < 0:
        raise ValueError(f"points must be a non-negative integer, got {points!r}")
    async with db.write() as conn:
        if await core.read_balance(conn, member_id, brand_id) is None:
            raise NotFoundError(f"{member_id} is not a member of {brand_id!r}")
        await core.lock_orders(conn, db.dialect, [order_id])
        stmt = (dialect_insert(db.dialect, member_purchases).values(asdict(purchase))
                .on_conflict_do_nothing(index_elements=["brand_id", "order_id"])
                .returning(_u.member_id))
        new_purchase = (await conn.execute(stmt)).first() is not None
        if not new_purchase:
            owner = (await conn.execute(select(_u.member_id).where(
                _u.brand_id == brand_id, _u.order_id == order_id))).scalar_one()
            if owner != member_id:
                raise LedgerConflictError(
                    f"order {order_id!r} at {brand_id!r} was credited to {owner} already")
        if points == 0:
            return None, new_purchase
        flagged = select(fraud_flags.c.flag_id).where(
            fraud_flags.c.status == "open",
            or_(fraud_flags.c.order_id == order_id, fraud_flags.c.prior_order_id == order_id),
        ).limit(1)
        held = (await conn.execute(flagged)).first() is not None
        entry = LedgerEntry(member_id, brand_id, points, "earn", order_id, now,
                            order_id=order_id, status="held" if held else "posted")
        return await core.post(conn, db.dialect, entry)


async def redeem_points(
    db: Database, *, member_id: str, brand_id: str, points: int, ref: str, now_ms: int,
    order_id: str | None = None,
) -> tuple[LedgerEntry, bool]:
    """Spend `points` (> 0) under `ref`, atomically checked against the available balance.

    A repeat with the same ref returns the first entry. `InsufficientBalanceError` writes
    nothing; `LedgerConflictError` when `ref` was used for another redeem or was returned.
    """
    entry = LedgerEntry(member_id, brand_id, -points, "redeem", ref, now_ms, order_id=order_id)
    async with db.write() as conn:
        if await core.entry_by_key(conn, brand_id, "redeem_return", ref) is not None:
            raise LedgerConflictError(
                f"points redeem {ref!r} at {brand_id!r} was returned: redeem under a new ref")
        return await core.post(conn, db.dialect, entry)


async def return_redeemed_points(
    db: Database, *, brand_id: str, ref: str, now_ms: int,
) -> tuple[LedgerEntry, bool] | None:
    """Give back the points of redeem `ref` (order cancelled or refunded), once.

    None when there is no such redeem (nothing was spent).
    """
    async with db.write() as conn:
        spent = await core.entry_by_key(conn, brand_id, "redeem", ref)
        if spent is None:
            return None
        entry = LedgerEntry(spent.member_id, brand_id, -spent.delta, "redeem_return", ref,
                            now_ms, order_id=spent.order_id)
        return await core.post(conn, db.dialect, entry)


async def reverse_order_points(
    db: Database, *, brand_id: str, order_id: str, refund_ref: str, points: int,
    order_refunded_fen: int, now_ms: int,
) -> tuple[LedgerEntry, bool] | None:
    """Take back up to `points` earned by `order_id` for refund `refund_ref`, once.

    Capped so the reversals of an order never exceed what it earned; stored with the status of
    the earn entry (held stays held). `order_refunded_fen` is the order's total refunded so
    far: the purchase's `refunded_fen` is raised to it (idempotent). None when the order
    earned nothing (left to reverse).
    """
    if type(points) is not int or points <= 0:
        raise ValueError(f"points must be a positive integer, got {points!r}")
    async with db.write() as conn:
        await core.lock_orders(conn, db.dialect, [order_id])
        await conn.execute(
            update(member_purchases)
            .where(_u.brand_id == brand_id, _u.order_id == order_id,
                   _u.refunded_fen < order_refunded_fen, _u.amount_fen >= order_refunded_fen)
            .values(refunded_fen=order_refunded_fen))
        done = await core.entry_by_key(conn, brand_id, "refund_reversal", refund_ref)
        if done is not None:
            return done, False
        earned = await core.entry_by_key(conn, brand_id, "earn", order_id)
        if earned is None or earned.status == "void":
            return None
        reversed_ = (await conn.execute(select(func.coalesce(func.sum(_p.delta), 0)).where(
            _p.brand_id == brand_id, _p.order_id == order_id, _p.kind == "refund_reversal",
            _p.status != "void"))).scalar_one()
        amount = min(points, earned.delta + int(reversed_))
        if amount <= 0:
            return None
        entry = LedgerEntry(earned.member_id, brand_id, -amount, "refund_reversal", refund_ref,
                            now_ms, order_id=order_id, status=earned.status)
        return await core.post(conn, db.dialect, entry)


async def balance(db: Database, member_id: str, brand_id: str) -> Balance:
    """The membership's points; `NotFoundError` when the member has not joined the brand."""
    async with db.read() as conn:
        result = await core.read_balance(conn, member_id, brand_id)
    if result is None:
        raise NotFoundError(f"{member_id} is not a member of {brand_id!r}")
    return result


async def list_points_entries(db: Database, member_id: str, brand_id: str,
                              limit: int = 100) -> list[LedgerEntry]:
    """The membership's entries, newest first."""
    query = (select(points_ledger)
             .where(_p.member_id == member_id, _p.brand_id == brand_id)
             .order_by(_p.entry_id.desc()).limit(limit))
    async with db.read() as conn:
        return [core.entry_from_row(r) for r in (await conn.execute(query)).all()]


async def hold_order_points(db: Database, order_ids: Sequence[str],
                            now_ms: int) -> list[LedgerEntry]:
    """Hold the posted points of these orders (fraud review); returns the entries held."""
    async with db.write() as conn:
        await core.lock_orders(conn, db.dialect, order_ids)
        return await core.restatus(conn, core.order_entries(order_ids), ("posted",), "held",
                                   now_ms)


async def release_order_points(db: Database, order_ids: Sequence[str],
                               now_ms: int) -> list[LedgerEntry]:
    """Release the held points of these orders back to available; returns those entries."""
    async with db.write() as conn:
        await core.lock_orders(conn, db.dialect, order_ids)
        return await core.restatus(conn, core.order_entries(order_ids), ("held",), "posted",
                                   now_ms)


async def void_order_points(db: Database, order_ids: Sequence[str],
                            now_ms: int) -> list[LedgerEntry]:
    """Void the (held or posted) points of these orders for good; returns those entries."""
    async with db.write() as conn:
        await core.lock_orders(conn, db.dialect, order_ids)
        return await core.restatus(conn, core.order_entries(order_ids), ("held", "posted"),
                                   "void", now_ms)


async def verify_points_balances(
    db: Database,
) -> list[tuple[str, str, Balance, Balance]]:
    """Memberships whose cached balance differs from the sum of their entries (for tests and
    audits): (member_id, brand_id, cached, summed). Empty when everything adds up."""
    def summed(status: str) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((_p.status == status, _p.delta), else_=0)), 0)

    sums = (select(_p.member_id, _p.brand_id, summed("posted").label("available"),
                   summed("held").label("held"))
            .group_by(_p.member_id, _p.brand_id).subquery())
    m = brand_memberships.c
    query = (select(m.member_id, m.brand_id, m.points_available, m.points_held,
                    func.coalesce(sums.c.available, 0), func.coalesce(sums.c.held, 0))
             .select_from(brand_memberships.outerjoin(
                 sums, (sums.c.member_id == m.member_id) & (sums.c.brand_id == m.brand_id)))
             .order_by(m.member_id, m.brand_id))
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [(r[0], r[1], Balance(r[2], r[3]), Balance(int(r[4]), int(r[5])))
            for r in rows if (r[2], r[3]) != (int(r[4]), int(r[5]))]


async def earned_for_order(db: Database, brand_id: str, order_id: str) -> int:
    """Points the order's `earn` entry credited (0 when none or voided)."""
    async with db.read() as conn:
        entry = await core.entry_by_key(conn, brand_id, "earn", order_id)
    return 0 if entry is None or entry.status == "void" else entry.delta
