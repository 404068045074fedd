"""Refunds (loop-bound): recorded first, then asked of the provider with the same
`out_refund_no` until it answers; idempotent end to end.

A refund of a paid order comes from the POS or an operator; an automatic refund returns a
second payment of an order that was already paid (two attempts paid: never keep both).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from broker import storage
from broker.payments.driver import AttemptDriver
from broker.payments.provider import (
    OutcomeUnknown,
    ProviderError,
    Refund,
    RefundStatus,
)
from broker.storage import payments as pay_db
from broker.storage import refunds as refund_db
from broker.storage.payments_records import AttemptRecord, OrderRecord
from broker.storage.refunds import RefundRecord

log = logging.getLogger(__name__)

CHECK_AFTER_MS = 2_000
MAX_CHECK_MS = 60_000

Refunded = Callable[[OrderRecord, RefundRecord], Awaitable[None]]


class Refunder:
    def __init__(self, db: storage.Database, driver: AttemptDriver, *,
                 refunded: Refunded | None = None) -> None:
        self.db = db
        self.driver = driver
        self.provider = driver.provider
        self.refunded = refunded

    async def refund(self, order_id: str, amount_fen: int, out_refund_no: str,
                     reason: str = "") -> RefundRecord:
        """Refund part or all of a paid order. The same `out_refund_no` again returns the
        same refund (and finishes it if it was interrupted)."""
        now = self.driver.now_ms()
        record, _ = await refund_db.create_refund(self.db, RefundRecord(
            out_refund_no=out_refund_no, order_id=order_id, out_trade_no="", amount_fen=amount_fen,
            state="pending", created_ms=now, updated_ms=now, reason=reason,
            next_check_ms=now + CHECK_AFTER_MS))
        return await self.drive(record)

    async def auto_refund(self, attempt: AttemptRecord) -> None:
        now = self.driver.now_ms()
        record, _ = await refund_db.create_refund(self.db, RefundRecord(
            out_refund_no=f"dup-{attempt.out_trade_no}", order_id=attempt.order_id,
            out_trade_no=attempt.out_trade_no, amount_fen=attempt.amount_fen, state="pending",
            created_ms=now, updated_ms=now, reason="order already paid",
            next_check_ms=now + CHECK_AFTER_MS), trade_no=attempt.out_trade_no)
        if attempt.method == "face_balance":
            return  # stored value: the settle step of the paying attempt handles it
        await self.drive(record)

    async def drive(self, record: RefundRecord) -> RefundRecord:
        """Ask (pending) or check (processing) the refund at the provider."""
        if record.state in ("success", "failed"):
            return record
        order = await pay_db.get_order(self.db, record.order_id)
        total = order.payable_fen if order else record.amount_fen
        try:
            async with self.driver.provider_call():
                if record.state == "pending":
                    answer = await self.provider.refund(
                        record.out_trade_no, record.out_refund_no, record.amount_fen, total,
                        record.reason)
                else:
                    answer = await self.provider.query_refund(record.out_refund_no)
        except ProviderError as exc:
            log.warning("refund %s refused: %s", record.out_refund_no, exc)
            await refund_db.set_refund_state(self.db, record.out_refund_no, was=record.state,
                                             state="failed", now_ms=self.driver.now_ms())
            return await refund_db.get_refund(self.db, record.out_refund_no) or record
        except OutcomeUnknown:
            now = self.driver.now_ms()
            wait = min(MAX_CHECK_MS, max(CHECK_AFTER_MS, 2 * (now - record.created_ms)))
            await refund_db.set_refund_state(self.db, record.out_refund_no, was=record.state,
                                             state=record.state, now_ms=now,
                                             next_check_ms=now + wait)
            return record
        return await self.apply(record, answer)

    async def apply(self, record: RefundRecord, answer: Refund) -> RefundRecord:
        now = self.driver.now_ms()
        if answer.status is RefundStatus.SUCCESS:
            state, nxt = "success", None
        elif answer.status in (RefundStatus.CLOSED, RefundStatus.ABNORMAL):
            state, nxt = "failed", None
        else:
            state, nxt = "processing", now + CHECK_AFTER_MS
        moved = False
        if record.state in ("success", "failed"):
            return record
        for was in ("pending", "processing"):
            moved = await refund_db.set_refund_state(
                self.db, record.out_refund_no, was=was, state=state, now_ms=now,
                refund_id=answer.refund_id, next_check_ms=nxt)
            if moved:
                break
        fresh = await refund_db.get_refund(self.db, record.out_refund_no) or record
        if moved and state == "success" and self.refunded is not None:
            order = await pay_db.get_order(self.db, fresh.order_id)
            if order is not None and order.paid_trade_no == fresh.out_trade_no:
                await self.refunded(order, fresh)
        return fresh

    async def on_notification(self, answer: Refund) -> None:
        record = await refund_db.get_refund(self.db, answer.out_refund_no)
        if record is not None:
            await self.apply(record, answer)
