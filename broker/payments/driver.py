"""Applies provider answers to attempts, once, under a per-trade lock (loop-bound).

The `AttemptDriver` is the one place where an attempt changes state after creation: the pay
request, a notification, the sweeper and a status call all go through `observe`/`act`, which
hold an asyncio lock per `out_trade_no` (within this process) and write with compare-and-set
(across processes). When an attempt becomes paid, the order is settled (points, purchase
record) and the terminal is told; a second payment of an already paid order is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from broker import storage
from broker.payments import lifecycle as lc
from broker.payments.provider import (
    OutcomeUnknown,
    PaymentProvider,
    ProviderError,
    Trade,
    TradeNotFound,
)
from broker.storage import payments as pay_db
from broker.storage.payments_records import AttemptRecord, OrderRecord
from kiosk.aio import BackgroundTasks

log = logging.getLogger(__name__)

# Seconds this task spent waiting for the provider (benchmarks subtract it).
provider_wait: contextvars.ContextVar[float] = contextvars.ContextVar("provider_wait",
                                                                       default=0.0)

Settle = Callable[[OrderRecord], Awaitable[None]]
Changed = Callable[[OrderRecord, AttemptRecord | None], Awaitable[None]]
AutoRefund = Callable[[AttemptRecord], Awaitable[None]]


@dataclass
class DriverStats:
    provider_calls: int = 0
    unknown_outcomes: int = 0
    paid: int = 0
    duplicate_payments: int = 0


class AttemptDriver:
    def __init__(self, db: storage.Database, provider: PaymentProvider, *,
                 timings: lc.Timings, settle: Settle, changed: Changed,
                 auto_refund: AutoRefund, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.provider = provider
        self.timings = timings
        self.settle = settle
        self.changed = changed
        self.auto_refund = auto_refund
        self.clock = clock
        self.stats = DriverStats()
        self.background = BackgroundTasks()  # settling and pushes after a change
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def lock(self, out_trade_no: str) -> asyncio.Lock:
        lock = self._locks.get(out_trade_no)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[out_trade_no] = lock
        return lock

    @contextlib.asynccontextmanager
    async def provider_call(self) -> AsyncIterator[None]:
        t0 = time.perf_counter()
        self.stats.provider_calls += 1
        try:
            yield
        except OutcomeUnknown:
            self.stats.unknown_outcomes += 1
            raise
        finally:
            provider_wait.set(provider_wait.get() + time.perf_counter() - t0)

    # ---- applying what was learnt ----------------------------------------------------------

    async def save(self, attempt: AttemptRecord, new: lc.AttemptView, *,
                   code_url: str | None = None) -> AttemptRecord:
        """Write a transition (caller holds the lock) and run what follows from it."""
        if new == attempt.as_view() and code_url is None:
            return attempt
        saved = await pay_db.save_attempt(self.db, attempt.out_trade_no, new,
                                          was_state=attempt.state, now_ms=self.now_ms(),
                                          code_url=code_url)
        if not saved.applied:
            return saved.attempt
        if saved.duplicate_payment:
            self.stats.duplicate_payments += 1
            log.warning("order %s paid twice (%s): refunding the second payment",
                        saved.attempt.order_id, saved.attempt.out_trade_no)
            await self.auto_refund(saved.attempt)
        if saved.order_paid_now:
            self.stats.paid += 1
        if saved.attempt.final and saved.attempt.state != attempt.state:
            # Settling (points, fraud check; the sweeper redoes it after a crash) and telling
            # the terminal (its own pay request already carries the attempt) run in the
            # background: neither delays the answer to the terminal or the provider.
            self.after_change(saved.attempt, settle=saved.order_paid_now)
        return saved.attempt

    def after_change(self, attempt: AttemptRecord, *, settle: bool) -> None:
        async def follow_up() -> None:
            order = await pay_db.get_order(self.db, attempt.order_id)
            if order is None:
                return
            if settle:
                try:
                    await self.settle(order)
                except Exception:
                    log.exception("settling %s failed (the sweeper retries)", order.order_id)
                order = await pay_db.get_order(self.db, attempt.order_id) or order
            await self.changed(order, attempt)

        self.background.spawn(follow_up())

    async def observe(self, out_trade_no: str, trade: Trade,
                      read: AttemptRecord | None = None) -> AttemptRecord | None:
        """The provider says `trade` (a notification, a query answer). `read`: the attempt as
        just read (saves a read; a stale one only makes the compare-and-set miss)."""
        async with self.lock(out_trade_no):
            attempt = read or await pay_db.get_attempt(self.db, out_trade_no)
            if attempt is None:
                return None
            if trade.state.paid and attempt.state != "paid" and attempt.final_like():
                # "paid" about an attempt we thought over (closed while the shopper was
                # paying): confirm with a fresh query, then book it (and refund it if the
                # order was paid another way)
                trade = await self._query(attempt) or trade
            new = lc.observed(attempt.as_view(), trade, self.now_ms(), self.timings)
            saved = await self.save(attempt, new)
        if read is not None and saved.state != new.state:
            return await self.observe(out_trade_no, trade)  # `read` was stale: once more
        return saved

    async def act(self, attempt: AttemptRecord) -> AttemptRecord:
        """Do what a due attempt needs (query, close, reverse)."""
        async with self.lock(attempt.out_trade_no):
            fresh = await pay_db.get_attempt(self.db, attempt.out_trade_no)
            if fresh is None:
                return attempt
            now = self.now_ms()
            action = lc.due_action(fresh.as_view(), now, self.timings)
            if action is None:
                return fresh
            if action is not lc.Action.QUERY and fresh.state != "closing":
                # recorded before asking: nobody books it paid while the reversal is out
                fresh = await self.save(fresh, lc.closing(fresh.as_view()))
                if fresh.state != "closing":
                    return fresh
            view = fresh.as_view()
            try:
                async with self.provider_call():
                    if action is lc.Action.QUERY:
                        trade = await self.provider.query(fresh.out_trade_no)
                        return await self.save(fresh, lc.observed(view, trade, now,
                                                                  self.timings))
                    if action is lc.Action.CLOSE:
                        await self.provider.close(fresh.out_trade_no)
                    else:
                        await self.provider.reverse(fresh.out_trade_no)
                return await self.save(fresh, lc.closed(view))
            except TradeNotFound:
                if action is lc.Action.QUERY:
                    return await self.save(fresh, lc.not_found(view, now, self.timings))
                return await self.save(fresh, lc.closed(view))  # nothing there to pay
            except ProviderError as exc:
                # e.g. close answered ORDERPAID: it was paid after all; a query will say so
                log.info("%s %s refused: %s", action, fresh.out_trade_no, exc.code)
                return await self.save(fresh, lc.needs_query_after(view, now))
            except OutcomeUnknown as exc:
                log.info("%s %s: outcome unknown (%s)", action, fresh.out_trade_no, exc)
                return await self.save(fresh, lc.unknown(view, now, self.timings))

    async def _query(self, attempt: AttemptRecord) -> Trade | None:
        try:
            async with self.provider_call():
                return await self.provider.query(attempt.out_trade_no)
        except (ProviderError, OutcomeUnknown):
            return None
