"""Refunds of paid orders: idempotent on `out_refund_no`, never more than was paid.

A refund row is written (state `pending`) before the provider is asked, so a crash between
the two is finished by the sweeper with the same `out_refund_no` (the provider deduplicates on
it). Reaching `success` adds the amount to the order's `refunded_fen` in the same transaction,
once, through a compare-and-set on the refund's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError
from broker.storage.payments import OrderStateError
from broker.storage.payments_records import order_from_row
from broker.storage.payments_schema import orders, refunds

ACTIVE_REFUND_STATES = ("pending", "processing", "success")


@dataclass(frozen=True, slots=True)
class RefundRecord:
    out_refund_no: str
    order_id: str
    out_trade_no: str
    amount_fen: int
    state: str
    created_ms: int
    updated_ms: int
    reason: str = ""
    refund_id: str | None = None
    next_check_ms: int | None = None


def refund_from_row(row: Any) -> RefundRecord:
    m = dict(row._mapping)
    return RefundRecord(**{k: m[k] for k in RefundRecord.__dataclass_fields__})


async def create_refund(db: Database, refund: RefundRecord, *,
                        trade_no: str | None = None) -> tuple[RefundRecord, bool]:
    """Record a refund request against the order's paying trade (or `trade_no`, for the
    automatic refund of a second payment). The same `out_refund_no` again returns the first
    request; a different amount under it is refused (`AlreadyExistsError`). Refunds of the
    paying trade may not exceed what was paid (`OrderStateError`)."""
    rc = refunds.c
    async with db.write() as conn:
        row = (await conn.execute(select(refunds).where(
            rc.out_refund_no == refund.out_refund_no))).first()
        if row is not None:
            existing = refund_from_row(row)
            if existing.amount_fen != refund.amount_fen or existing.order_id != refund.order_id:
                raise AlreadyExistsError(
                    f"refund {refund.out_refund_no!r} exists with another amount or order")
            return existing, False
        orow = (await conn.execute(select(orders).where(
            orders.c.order_id == refund.order_id))).first()
        if orow is None:
            raise NotFoundError(f"no order {refund.order_id!r}")
        order = order_from_row(orow)
        if trade_no is None:
            if order.paid_trade_no is None:
                raise OrderStateError(f"order {order.order_id} is not paid", order.state)
            trade_no = order.paid_trade_no
            already = (await conn.execute(select(func.coalesce(func.sum(rc.amount_fen), 0))
                       .where(rc.out_trade_no == trade_no,
                              rc.state.in_(ACTIVE_REFUND_STATES)))).scalar_one()
            if already + refund.amount_fen > order.payable_fen:
                raise OrderStateError(
                    f"refund of {refund.amount_fen} fen exceeds what is left "
                    f"({order.payable_fen - already} fen)", order.state)
        values = {k: getattr(refund, k) for k in RefundRecord.__dataclass_fields__}
        values["out_trade_no"] = trade_no
        await conn.execute(insert(refunds).values(values))
        row = (await conn.execute(select(refunds).where(
            rc.out_refund_no == refund.out_refund_no))).first()
    assert row is not None
    return refund_from_row(row), True


async def get_refund(db: Database, out_refund_no: str) -> RefundRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(refunds).where(
            refunds.c.out_refund_no == out_refund_no))).first()
    return refund_from_row(row) if row else None


async def set_refund_state(db: Database, out_refund_no: str, *, was: str, state: str,
                           now_ms: int, refund_id: str | None = None,
                           next_check_ms: int | None = None) -> bool:
    """Move a refund from `was` to `state`; reaching `success` counts it on the order (only
    for refunds of the order's paying trade). False when it was not in `was`."""
    if was not in ("pending", "processing"):
        raise ValueError(f"refund state {was!r} is final")
    rc = refunds.c
    async with db.write() as conn:
        r = await conn.execute(update(refunds).where(
            rc.out_refund_no == out_refund_no, rc.state == was).values(
            state=state, updated_ms=now_ms, next_check_ms=next_check_ms,
            **({"refund_id": refund_id} if refund_id else {})))
        if r.rowcount == 0:
            return False
        if state == "success":
            row = (await conn.execute(select(refunds).where(
                rc.out_refund_no == out_refund_no))).first()
            assert row is not None
            ref = refund_from_row(row)
            oc = orders.c
            await conn.execute(update(orders).where(
                oc.order_id == ref.order_id, oc.paid_trade_no == ref.out_trade_no).values(
                refunded_fen=oc.refunded_fen + ref.amount_fen, updated_ms=now_ms))
            await conn.execute(update(orders).where(
                oc.order_id == ref.order_id, oc.paid_trade_no == ref.out_trade_no,
                oc.refunded_fen >= oc.amount_fen - oc.discount_fen).values(state="refunded"))
    return True


async def due_refunds(db: Database, now_ms: int, limit: int = 200) -> list[RefundRecord]:
    rc = refunds.c
    async with db.read() as conn:
        rows = (await conn.execute(select(refunds).where(
            rc.next_check_ms <= now_ms, rc.state.in_(("pending", "processing")))
            .order_by(rc.next_check_ms).limit(limit))).all()
    return [refund_from_row(r) for r in rows]


async def refunds_of_order(db: Database, order_id: str) -> list[RefundRecord]:
    async with db.read() as conn:
        rows = (await conn.execute(select(refunds).where(
            refunds.c.order_id == order_id).order_by(refunds.c.created_ms))).all()
    return [refund_from_row(r) for r in rows]
