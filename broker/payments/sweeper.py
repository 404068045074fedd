"""Drives every order and attempt to a final state (loop-bound).

Each round: live attempts whose check is due (query, close at QR expiry, reverse at the
payment-code deadline or after an unknown outcome), refunds not yet answered, open orders past
their expiry (closed), and paid orders whose after-payment work did not finish (a crash between
the payment and the points), and second payments of one order without their refund. Work is
spread over a bounded number of concurrent provider calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from broker.payments.driver import AttemptDriver
from broker.payments.refunding import Refunder
from broker.payments.service import CheckoutService
from broker.storage import payments as pay_db
from broker.storage import refunds as refund_db

log = logging.getLogger(__name__)


@dataclass
class SweepStats:
    rounds: int = 0
    attempts_checked: int = 0
    refunds_checked: int = 0
    orders_expired: int = 0
    orders_settled: int = 0


class PaymentSweeper:
    def __init__(self, service: CheckoutService, refunder: Refunder, *,
                 interval_s: float = 1.0, concurrency: int = 16) -> None:
        self.service = service
        self.driver: AttemptDriver = service.driver
        self.refunder = refunder
        self.interval_s = interval_s
        self.stats = SweepStats()
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def sweep_once(self) -> int:
        """One round; returns how many things it looked at."""
        db, now = self.driver.db, self.driver.now_ms()
        attempts = await pay_db.due_attempts(db, now)
        refunds = await refund_db.due_refunds(db, now)
        expired = await pay_db.expired_open_orders(db, now)
        unsettled = await pay_db.unsettled_paid_orders(db)
        doubles = await pay_db.unrefunded_second_payments(db)
        jobs = [self._guard(self.driver.act, a) for a in attempts]
        jobs += [self._guard(self.refunder.drive, r) for r in refunds]
        jobs += [self._guard(self.service.cancel, o) for o in expired]
        jobs += [self._guard(self.driver.settle, o) for o in unsettled]
        jobs += [self._guard(self.driver.auto_refund, a) for a in doubles]
        await asyncio.gather(*jobs)
        s = self.stats
        s.rounds += 1
        s.attempts_checked += len(attempts)
        s.refunds_checked += len(refunds)
        s.orders_expired += len(expired)
        s.orders_settled += len(unsettled)
        return len(jobs)

    async def _guard(self, job: Callable[[Any], Awaitable[object]], arg: Any) -> None:
        async with self._sem:  # the coroutine is made here: a cancelled round leaves none
            try:
                await job(arg)
            except Exception:
                log.exception("payment sweeper job failed (retried next round)")

    async def async_run(self) -> None:
        while True:
            try:
                busy = await self.sweep_once()
            except Exception:
                log.exception("payment sweep failed")
                busy = 0
            if busy:
                await asyncio.sleep(0)  # more may be due: go again soon
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
