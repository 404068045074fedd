"""Everything the controller runs for checkout, wired together (loop-bound).

    runtime = PaymentsRuntime(db, provider, push=..., settle=...)
    await runtime.start()        # the sweeper
    order, created = await runtime.create_order(new)    # POS
    await runtime.service.pay(device_id, params, key)   # terminal request
    await runtime.notifications.handle(headers, body)   # provider notification
    await runtime.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from broker import storage
from broker.payments import lifecycle as lc
from broker.payments.driver import AttemptDriver
from broker.payments.latency import LatencyLog
from broker.payments.notifications import NotificationHandler
from broker.payments.order_input import NewOrder
from broker.payments.provider import (
    BillRow,
    OutcomeUnknown,
    PaymentProvider,
    ProviderError,
    RefundStatus,
    TradeState,
)
from broker.payments.reconcile import OurTrade, ReconciliationReport, reconcile
from broker.payments.refunding import Refunder
from broker.payments.service import (
    CheckoutConfig,
    CheckoutService,
    FaceWallets,
    MemberPrices,
)
from broker.payments.sweeper import PaymentSweeper
from broker.storage import payments as pay_db
from broker.storage import refunds as refund_db
from broker.storage.payments_records import AttemptRecord, OrderRecord
from broker.storage.refunds import RefundRecord

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")  # the providers' bills are by China day

Push = Callable[[str, str, dict[str, object]], Awaitable[None]]  # device, command, args
Settle = Callable[[OrderRecord], Awaitable[None]]
OnRefund = Callable[[OrderRecord, RefundRecord], Awaitable[None]]


class PaymentsRuntime:
    def __init__(self, db: storage.Database, provider: PaymentProvider, *, push: Push,
                 settle: Settle | None = None, on_refund: OnRefund | None = None,
                 on_closed: Settle | None = None, member_prices: MemberPrices | None = None,
                 wallets: FaceWallets | None = None, timings: lc.Timings | None = None,
                 config: CheckoutConfig | None = None, sweep_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.provider = provider
        self.push = push
        self._settle_hook = settle
        self.driver = AttemptDriver(db, provider, timings=timings or lc.Timings(),
                                    settle=self._settle, changed=self._changed,
                                    auto_refund=self._auto_refund, clock=clock)
        self.service = CheckoutService(db, self.driver, config=config, wallets=wallets,
                                       on_closed=on_closed, member_prices=member_prices,
                                       clock=clock)
        self.refunder = Refunder(db, self.driver, refunded=self._refunded)
        self._on_refund = on_refund
        self.latency = LatencyLog()
        self.notifications = NotificationHandler(self.driver, self.refunder,
                                                 latency=self.latency)
        self.sweeper = PaymentSweeper(self.service, self.refunder, interval_s=sweep_s)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.sweeper.async_run())

    async def stop(self) -> None:
        await self.driver.background.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.provider.aclose()

    async def create_order(self, new: NewOrder) -> tuple[OrderRecord, bool]:
        """Store a POS order and tell its terminal (again, on a repeated request: the first
        push may be what got lost)."""
        order, created = await self.service.create_order(new)
        if order.state == "open":  # told in the background: the POS does not wait for it
            self.driver.background.spawn(self._push(order.device_id, "checkout.order",
                                                    {"order": order.view()}))
        return order, created

    # ---- hooks of the driver -------------------------------------------------------------------

    async def _settle(self, order: OrderRecord) -> None:
        if self._settle_hook is not None:
            await self._settle_hook(order)
        await pay_db.mark_settled(self.db, order.order_id)

    async def _changed(self, order: OrderRecord, attempt: AttemptRecord | None) -> None:
        await self._push(order.device_id, "checkout.update",
                         {"order": order.view(), "attempt": attempt.wire() if attempt else None})

    async def _auto_refund(self, attempt: AttemptRecord) -> None:
        self.sweeper.wake()
        await self.refunder.auto_refund(attempt)

    async def _refunded(self, order: OrderRecord, refund: RefundRecord) -> None:
        if self._on_refund is not None:
            await self._on_refund(order, refund)
        fresh = await pay_db.get_order(self.db, order.order_id) or order
        await self._changed(fresh, None)

    async def _push(self, device_id: str, name: str, args: dict[str, object]) -> None:
        try:
            await self.push(device_id, name, args)
        except Exception as exc:  # the terminal also polls; a lost push delays, never loses
            log.warning("could not tell %s about %s: %s", device_id, name, exc)

    # ---- reconciliation ----------------------------------------------------------------------

    async def reconcile(self, day: dt.date) -> ReconciliationReport:
        start = dt.datetime.combine(day, dt.time(), CHINA)
        end = start + dt.timedelta(days=1)
        attempts = await pay_db.attempts_between(self.db, int(start.timestamp() * 1000),
                                                 int(end.timestamp() * 1000))
        attempts = [a for a in attempts if a.provider == self.provider.name]
        ours: list[OurTrade] = []
        for a in attempts:
            refunded = 0
            if a.state == "paid":
                order = await pay_db.get_order(self.db, a.order_id)
                if order is not None and order.paid_trade_no == a.out_trade_no:
                    refunded = order.refunded_fen
            ours.append(OurTrade(a.out_trade_no, a.order_id, a.state == "paid", a.amount_fen,
                                 refunded))
        try:
            bill = list(await self.provider.bill(day))
            source = "bill"
        except ProviderError as exc:
            if exc.code != "UNSUPPORTED":
                raise
            bill, source = await self._query_each(attempts), "query"
        return reconcile(day.isoformat(), ours, bill, source=source)

    async def _query_each(self, attempts: list[AttemptRecord]) -> list[BillRow]:
        """The provider's view trade by trade (providers without a bill download); refunded
        amounts are the refunds the provider confirms."""
        rows = []
        for a in attempts:
            try:
                t = await self.provider.query(a.out_trade_no)
                refunded = 0
                if t.state is TradeState.REFUND:
                    for r in await refund_db.refunds_of_order(self.db, a.order_id):
                        if r.out_trade_no == a.out_trade_no and (
                                await self.provider.query_refund(r.out_refund_no)
                        ).status is RefundStatus.SUCCESS:
                            refunded += r.amount_fen
            except (ProviderError, OutcomeUnknown):
                continue
            rows.append(BillRow(a.out_trade_no, t.transaction_id or "", t.state,
                                t.amount_fen or a.amount_fen, refunded))
        return rows
