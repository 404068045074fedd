"""Orders and payment attempts: creation, the one-live-attempt rule, compare-and-set updates.

Every transition is a conditional UPDATE inside one write transaction, so a notification, a
sweeper query and a terminal's status call racing on the same attempt (in one process or in
several on PostgreSQL) apply each fact once. An attempt that becomes `paid` marks its order
paid only if no other attempt paid it first; the caller learns of such a second payment
(`SavedAttempt.duplicate_payment`) and refunds it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update

from broker.payments.lifecycle import LIVE_ATTEMPT_STATES, AttemptView
from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError, StorageError
from broker.storage.payments_records import (
    AttemptRecord,
    OrderRecord,
    attempt_from_row,
    attempt_values,
    order_from_row,
    order_values,
    trade_no,
)
from broker.storage.payments_schema import (
    orders,
    payment_attempts,
    payment_notifications,
    refunds,
)


class OrderStateError(StorageError):
    """The order is not in a state that allows the operation (`state` says which it is in)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True, slots=True)
class SavedAttempt:
    attempt: AttemptRecord
    applied: bool  # False: someone else changed it first (nothing written)
    order_paid_now: bool = False  # this update made the order paid
    duplicate_payment: bool = False  # paid, but the order was already paid by another attempt


async def create_order(db: Database, order: OrderRecord) -> tuple[OrderRecord, bool]:
    """Store a new order, or return the one made earlier with the same request key.

    Raises `AlreadyExistsError` when the key was used for a different request."""
    async with db.write() as conn:
        row = (await conn.execute(
            select(orders).where(orders.c.request_key == order.request_key))).first()
        if row is None:
            await conn.execute(insert(orders).values(order_values(order)))
            return order, True
    existing = order_from_row(row)
    if existing.request_sha256 != order.request_sha256:
        raise AlreadyExistsError(
            f"idempotency key {order.request_key!r} was used for a different order")
    return existing, False


async def get_order(db: Database, order_id: str) -> OrderRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(orders).where(orders.c.order_id == order_id))).first()
    return order_from_row(row) if row else None


async def get_attempt(db: Database, out_trade_no: str) -> AttemptRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(payment_attempts).where(
            payment_attempts.c.out_trade_no == out_trade_no))).first()
    return attempt_from_row(row) if row else None


async def latest_attempt(db: Database, order_id: str) -> AttemptRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(
            select(payment_attempts).where(payment_attempts.c.order_id == order_id)
            .order_by(payment_attempts.c.created_ms.desc(),
                      payment_attempts.c.out_trade_no.desc()).limit(1))).first()
    return attempt_from_row(row) if row else None


async def start_attempt(db: Database, order_id: str, attempt: AttemptRecord,
                        *, now_ms: int) -> tuple[AttemptRecord, bool]:
    """Open a new attempt for an open order; a repeated request key returns its attempt.

    `attempt.out_trade_no` is replaced by the order's next trade number. Raises
    `NotFoundError`, or `OrderStateError` when the order is not open (paid, closed, expired)
    or still has a live attempt."""
    async with db.write() as conn:
        same = (await conn.execute(select(payment_attempts).where(
            payment_attempts.c.request_key == attempt.request_key))).first()
        if same is not None:
            return attempt_from_row(same), False
        row = (await conn.execute(select(orders).where(orders.c.order_id == order_id))).first()
        if row is None:
            raise NotFoundError(f"no order {order_id!r}")
        order = order_from_row(row)
        if order.state != "open":
            raise OrderStateError(f"order {order_id} is {order.state}", order.state)
        if order.expires_ms <= now_ms:
            raise OrderStateError(f"order {order_id} has expired", "expired")
        live = (await conn.execute(select(func.count()).where(
            payment_attempts.c.order_id == order_id,
            payment_attempts.c.state.in_(LIVE_ATTEMPT_STATES)))).scalar_one()
        if live:
            raise OrderStateError(f"order {order_id} has a payment in progress", "paying")
        n = order.attempts + 1
        new = replace(attempt, out_trade_no=trade_no(order_id, n), order_id=order_id,
                      amount_fen=order.payable_fen)
        await conn.execute(update(orders).where(orders.c.order_id == order_id).values(
            attempts=n, state="paying", updated_ms=now_ms))
        await conn.execute(insert(payment_attempts).values(attempt_values(new)))
    return new, True


async def save_attempt(db: Database, out_trade_no: str, new: AttemptView, *, was_state: str,
                       now_ms: int, code_url: str | None = None) -> SavedAttempt:
    """Write `new` if the attempt is still in `was_state`; move its order along with it."""
    values: dict[str, Any] = {
        "state": new.state, "unknown": new.unknown, "checks": new.checks,
        "next_check_ms": new.next_check_ms, "error": new.error, "expires_ms": new.expires_ms,
        "transaction_id": new.transaction_id, "payer": new.payer, "updated_ms": now_ms}
    if code_url is not None:
        values["code_url"] = code_url
    pa = payment_attempts.c
    async with db.write() as conn:
        result = await conn.execute(update(payment_attempts).where(
            pa.out_trade_no == out_trade_no, pa.state == was_state).values(values))
        row = (await conn.execute(select(payment_attempts).where(
            pa.out_trade_no == out_trade_no))).first()
        if row is None:
            raise NotFoundError(f"no attempt {out_trade_no!r}")
        saved = attempt_from_row(row)
        if result.rowcount == 0:
            return SavedAttempt(saved, applied=False)
        paid_now = duplicate = False
        if new.state == "paid" and was_state != "paid":
            oc = orders.c
            r = await conn.execute(update(orders).where(
                oc.order_id == saved.order_id, oc.paid_trade_no.is_(None)).values(
                state="paid", paid_ms=now_ms, paid_trade_no=out_trade_no,
                payer=new.payer, updated_ms=now_ms))
            paid_now = r.rowcount == 1
            duplicate = not paid_now
        elif new.state in ("failed", "closed", "reversed"):
            await conn.execute(update(orders).where(
                orders.c.order_id == saved.order_id, orders.c.state == "paying").values(
                state="open", updated_ms=now_ms))
    return SavedAttempt(saved, applied=True, order_paid_now=paid_now,
                        duplicate_payment=duplicate)


async def due_attempts(db: Database, now_ms: int, limit: int = 200) -> list[AttemptRecord]:
    """Live attempts whose next check is due, oldest first."""
    pa = payment_attempts.c
    async with db.read() as conn:
        rows = (await conn.execute(select(payment_attempts).where(
            pa.next_check_ms <= now_ms, pa.state.in_(LIVE_ATTEMPT_STATES))
            .order_by(pa.next_check_ms).limit(limit))).all()
    return [attempt_from_row(r) for r in rows]


async def unrefunded_second_payments(db: Database, limit: int = 100) -> list[AttemptRecord]:
    """Paid attempts of orders that another attempt paid, with no refund recorded yet: what a
    crash between booking a second payment and recording its refund would leave behind."""
    pa, oc = payment_attempts.c, orders.c
    refunded = select(refunds.c.out_refund_no).where(refunds.c.out_trade_no == pa.out_trade_no)
    async with db.read() as conn:
        rows = (await conn.execute(
            select(payment_attempts).join(orders, oc.order_id == pa.order_id).where(
                pa.state == "paid", oc.paid_trade_no != pa.out_trade_no,
                ~refunded.exists()).limit(limit))).all()
    return [attempt_from_row(r) for r in rows]


async def unsettled_paid_orders(db: Database, limit: int = 200) -> list[OrderRecord]:
    oc = orders.c
    async with db.read() as conn:
        rows = (await conn.execute(select(orders).where(
            oc.paid_trade_no.is_not(None), oc.settled.is_(False))
            .order_by(oc.paid_ms).limit(limit))).all()
    return [order_from_row(r) for r in rows]


async def mark_settled(db: Database, order_id: str, *, member_id: str | None = None) -> None:
    values: dict[str, Any] = {"settled": True}
    if member_id is not None:
        values["member_id"] = member_id
    async with db.write() as conn:
        await conn.execute(update(orders).where(orders.c.order_id == order_id).values(values))


async def set_member(db: Database, order_id: str, member_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(update(orders).where(
            orders.c.order_id == order_id, orders.c.member_id.is_(None)).values(
            member_id=member_id))


async def apply_discount(db: Database, order_id: str, *, now_ms: int, discount_fen: int,
                         points_used: int | None = None, coupon_code: str | None = None,
                         member_id: str | None = None) -> OrderRecord:
    """Change an open order's discount (points, coupon); refused once a payment started."""
    values: dict[str, Any] = {"discount_fen": discount_fen, "updated_ms": now_ms}
    if points_used is not None:
        values["points_used"] = points_used
    if coupon_code is not None:
        values["coupon_code"] = coupon_code
    if member_id is not None:
        values["member_id"] = member_id
    oc = orders.c
    async with db.write() as conn:
        r = await conn.execute(update(orders).where(
            oc.order_id == order_id, oc.state == "open",
            oc.amount_fen > discount_fen).values(values))
        row = (await conn.execute(select(orders).where(oc.order_id == order_id))).first()
    if row is None:
        raise NotFoundError(f"no order {order_id!r}")
    order = order_from_row(row)
    if r.rowcount == 0:
        raise OrderStateError(f"order {order_id} is {order.state}: its amount is fixed",
                              order.state)
    return order


async def apply_member_discount(db: Database, order_id: str, *, member_discount_fen: int,
                                member_id: str, now_ms: int) -> tuple[OrderRecord, bool]:
    """Add the member prices' saving to an open order's discount, once: (the order as it is
    now, whether this call added it). Nothing is written when the order is no longer open,
    already has its member discount, or would be left with less than 1 fen to pay. The order
    is given the member unless it names one already."""
    if member_discount_fen <= 0:
        raise ValueError("member_discount_fen must be positive")
    oc = orders.c
    async with db.write() as conn:
        r = await conn.execute(update(orders).where(
            oc.order_id == order_id, oc.state == "open", oc.member_discount_fen == 0,
            oc.amount_fen > oc.discount_fen + member_discount_fen).values(
            discount_fen=oc.discount_fen + member_discount_fen,
            member_discount_fen=member_discount_fen,
            member_id=func.coalesce(oc.member_id, member_id), updated_ms=now_ms))
        row = (await conn.execute(select(orders).where(oc.order_id == order_id))).first()
    if row is None:
        raise NotFoundError(f"no order {order_id!r}")
    return order_from_row(row), r.rowcount == 1


async def close_order(db: Database, order_id: str, *, now_ms: int) -> OrderRecord:
    """Close an open order (cancelled at the terminal, or expired). A paying or paid order is
    left as it is and returned: its attempt must be closed first."""
    oc = orders.c
    async with db.write() as conn:
        await conn.execute(update(orders).where(oc.order_id == order_id, oc.state == "open")
                           .values(state="closed", updated_ms=now_ms))
        row = (await conn.execute(select(orders).where(oc.order_id == order_id))).first()
    if row is None:
        raise NotFoundError(f"no order {order_id!r}")
    return order_from_row(row)


async def open_orders_of(db: Database, device_id: str, now_ms: int,
                         limit: int = 10) -> list[OrderRecord]:
    """A terminal's unexpired open or paying orders, oldest first."""
    oc = orders.c
    async with db.read() as conn:
        rows = (await conn.execute(select(orders).where(
            oc.device_id == device_id, oc.state.in_(("open", "paying")),
            oc.expires_ms > now_ms).order_by(oc.created_ms).limit(limit))).all()
    return [order_from_row(r) for r in rows]


async def expired_open_orders(db: Database, now_ms: int, limit: int = 500) -> list[str]:
    oc = orders.c
    async with db.read() as conn:
        rows = (await conn.execute(select(oc.order_id).where(
            oc.state == "open", oc.expires_ms <= now_ms).limit(limit))).all()
    return [r[0] for r in rows]


async def record_notification(db: Database, notification_id: str, *, provider: str,
                              out_trade_no: str | None, kind: str, now_ms: int,
                              outcome: str) -> bool:
    """Remember a processed notification; False when it was seen before (a repeat)."""
    stmt = dialect_insert(db.dialect, payment_notifications).values(
        notification_id=notification_id, provider=provider, out_trade_no=out_trade_no,
        kind=kind, received_ms=now_ms, outcome=outcome).on_conflict_do_nothing()
    async with db.write() as conn:
        result = await conn.execute(stmt)
    return bool(result.rowcount)


async def attempts_between(db: Database, start_ms: int, end_ms: int) -> list[AttemptRecord]:
    pa = payment_attempts.c
    async with db.read() as conn:
        rows = (await conn.execute(select(payment_attempts).where(
            pa.created_ms >= start_ms, pa.created_ms < end_ms).order_by(pa.created_ms))).all()
    return [attempt_from_row(r) for r in rows]


async def open_work_count(db: Database) -> dict[str, int]:
    """Live attempts and unsettled paid orders (zero when everything is final)."""
    pa, oc = payment_attempts.c, orders.c
    async with db.read() as conn:
        live = (await conn.execute(select(func.count()).where(
            pa.state.in_(LIVE_ATTEMPT_STATES)))).scalar_one()
        unsettled = (await conn.execute(select(func.count()).where(
            and_(oc.paid_trade_no.is_not(None), oc.settled.is_(False))))).scalar_one()
        paying = (await conn.execute(select(func.count()).where(
            or_(oc.state == "paying")))).scalar_one()
    return {"live_attempts": live, "unsettled_orders": unsettled, "paying_orders": paying}
