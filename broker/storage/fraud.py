"""Payment credential uses and fraud flags, and holding the points of flagged orders.

The travel rule (one credential used in two places too far apart too fast) is pure logic
elsewhere; this module stores its inputs and outcomes:

- `record_credential_use` keeps (credential sha256, store, time, order): once per order.
  `last_use` is the latest use of a credential (indexed on credential_hash, used_ms).
- `raise_fraud_flag` stores a flag once per (order, prior order) and, in the same transaction,
  holds the points of both orders (held entries do not count as available). Points credited
  later for a flagged order are stored held at once (`points.credit_order`).
- `resolve_fraud_flag` clears (points released, unless another open flag still names the
  order) or confirms (points of the chosen orders voided, the others released).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from broker.storage import _points_ledger as core
from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_schema import credential_uses, fraud_flags
from broker.storage.records import _check_ms
from broker.storage.reward_records import CredentialUse, FraudFlag

_u = credential_uses.c
_f = fraud_flags.c


def _flag(row: Any) -> FraudFlag:
    return FraudFlag(**row._mapping)


async def record_credential_use(db: Database, use: CredentialUse) -> bool:
    """Store the use once per order: True when new, False when the order's use was known."""
    stmt = (dialect_insert(db.dialect, credential_uses).values(asdict(use))
            .on_conflict_do_nothing(index_elements=["order_id"]).returning(_u.order_id))
    async with db.write() as conn:
        return (await conn.execute(stmt)).first() is not None


async def last_use(db: Database, credential_hash: str, *, before_ms: int | None = None,
                   exclude_order_id: str | None = None) -> CredentialUse | None:
    """The credential's latest use (at or before `before_ms`, other than `exclude_order_id`)."""
    query = select(credential_uses).where(_u.credential_hash == credential_hash)
    if before_ms is not None:
        query = query.where(_u.used_ms <= before_ms)
    if exclude_order_id is not None:
        query = query.where(_u.order_id != exclude_order_id)
    query = query.order_by(_u.used_ms.desc(), _u.order_id.desc()).limit(1)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else CredentialUse(**row._mapping)


async def raise_fraud_flag(db: Database, flag: FraudFlag, *,
                           hold: bool = True) -> tuple[FraudFlag, bool]:
    """Store an open flag once per (order_id, prior_order_id): (stored, True) or (the existing
    flag, False). With `hold`, the points of both orders are held in the same transaction."""
    if flag.status != "open":
        raise ValueError("a new fraud flag is 'open'")
    values = asdict(flag)
    del values["flag_id"]
    stmt = (dialect_insert(db.dialect, fraud_flags).values(values)
            .on_conflict_do_nothing(index_elements=["order_id", "prior_order_id"])
            .returning(_f.flag_id))
    async with db.write() as conn:
        await core.lock_orders(conn, db.dialect, [flag.order_id, flag.prior_order_id])
        row = (await conn.execute(stmt)).first()
        if row is None:
            existing = (await conn.execute(select(fraud_flags).where(
                _f.order_id == flag.order_id, _f.prior_order_id == flag.prior_order_id))).one()
            return _flag(existing), False
        if hold:
            await core.restatus(conn, core.order_entries([flag.order_id, flag.prior_order_id]),
                                ("posted",), "held", flag.created_ms)
    return replace(flag, flag_id=row[0]), True


async def _open_flag_orders(conn: AsyncConnection, orders: Sequence[str]) -> set[str]:
    query = select(_f.order_id, _f.prior_order_id).where(
        _f.status == "open", or_(_f.order_id.in_(orders), _f.prior_order_id.in_(orders)))
    return {o for row in (await conn.execute(query)).all() for o in row}


async def resolve_fraud_flag(
    db: Database, flag_id: int, status: str, now_ms: int, *, note: str | None = None,
    void_orders: Sequence[str] | None = None,
) -> tuple[FraudFlag, bool]:
    """Close an open flag as 'cleared' or 'confirmed': (flag, True), or (flag, False) when it
    was resolved already (nothing changes). Clearing releases the held points of its orders;
    confirming voids the points of `void_orders` (default: both of the flag's orders) and
    releases the other's - an order still named by another open flag stays held.
    `NotFoundError` for an unknown flag."""
    if status not in ("cleared", "confirmed"):
        raise ValueError(f"a flag is resolved as 'cleared' or 'confirmed', not {status!r}")
    _check_ms("fraud flag", "now_ms", now_ms)
    async with db.write() as conn:
        row = (await conn.execute(select(fraud_flags).where(_f.flag_id == flag_id))).first()
        if row is None:
            raise NotFoundError(f"fraud flag {flag_id} does not exist")
        flag = _flag(row)
        await core.lock_orders(conn, db.dialect, [flag.order_id, flag.prior_order_id])
        stmt = (update(fraud_flags).where(_f.flag_id == flag_id, _f.status == "open")
                .values(status=status, resolved_ms=now_ms, note=note))
        if (await conn.execute(stmt)).rowcount != 1:
            return flag, False
        orders = [flag.order_id, flag.prior_order_id]
        void = set(orders if void_orders is None else void_orders) & set(orders)
        if status == "confirmed" and void:
            await core.restatus(conn, core.order_entries(sorted(void)), ("held", "posted"),
                                "void", now_ms)
        still_flagged = await _open_flag_orders(conn, orders)
        release = [o for o in orders if o not in still_flagged
                   and (status == "cleared" or o not in void)]
        if release:
            await core.restatus(conn, core.order_entries(release), ("held",), "posted", now_ms)
    return replace(flag, status=status, resolved_ms=now_ms, note=note), True


async def get_fraud_flag(db: Database, flag_id: int) -> FraudFlag | None:
    async with db.read() as conn:
        row = (await conn.execute(select(fraud_flags).where(_f.flag_id == flag_id))).first()
    return None if row is None else _flag(row)


async def list_fraud_flags(db: Database, status: str | None = "open", *,
                           order_id: str | None = None, limit: int = 100) -> list[FraudFlag]:
    """Flags (in `status`, naming `order_id` when given), oldest first."""
    query = select(fraud_flags)
    if status is not None:
        query = query.where(_f.status == status)
    if order_id is not None:
        query = query.where(or_(_f.order_id == order_id, _f.prior_order_id == order_id))
    query = query.order_by(_f.created_ms, _f.flag_id).limit(limit)
    async with db.read() as conn:
        return [_flag(r) for r in (await conn.execute(query)).all()]
