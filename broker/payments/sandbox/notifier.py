"""Delivers the sandbox's v3 notifications: POST to the trade's (or refund's) `notify_url`, signed
with the platform key, the resource encrypted with the merchant's APIv3 key; retried on anything
but a 2xx on a backoff schedule (WeChat retries for about 24 h: 15 s, 15 s, 30 s, 3 min, 10 min,
20 min, 30 min ×3, 1 h, 3 h ×3, 6 h ×2); notification faults (duplicates, delays, a lost first
attempt) come from the fault plan. Each attempt is signed afresh (new timestamp and nonce).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from broker.payments import wechat_crypto as wc
from broker.payments.sandbox import wire
from broker.payments.sandbox.clock import SandboxClock, wall_s
from broker.payments.sandbox.faults import FaultPlan
from broker.payments.sandbox.keys import SandboxKeys
from broker.payments.sandbox.records import Event, RefundDone, TradePaid

log = logging.getLogger(__name__)

WECHAT_RETRY_DELAYS_MS: tuple[int, ...] = tuple(s * 1000 for s in (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600))


@dataclass(slots=True)
class Delivery:
    notification_id: str
    event_type: str
    url: str
    mchid: str
    out_trade_no: str
    out_refund_no: str | None
    copies: int = 1
    attempts: int = 0
    delivered: int = 0  # successful deliveries (2 for a duplicated one)
    results: list[str] = field(default_factory=list)  # "200", "500", "dropped", "error: …"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.notification_id, "event_type": self.event_type, "url": self.url,
                "mchid": self.mchid, "out_trade_no": self.out_trade_no,
                "out_refund_no": self.out_refund_no, "copies": self.copies,
                "attempts": self.attempts, "delivered": self.delivered, "results": self.results}


class Notifier:
    def __init__(self, keys: SandboxKeys, faults: FaultPlan, clock: SandboxClock, *,
                 retry_delays_ms: Sequence[int] = WECHAT_RETRY_DELAYS_MS,
                 timeout_s: float = 5.0) -> None:
        self.keys = keys
        self.faults = faults
        self.clock = clock
        self.retry_delays_ms = tuple(retry_delays_ms)
        self.timeout_s = timeout_s
        self.deliveries: list[Delivery] = []
        self._platform_key = wc.load_private_key(keys.platform_private_key)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout_s)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def submit(self, event: Event) -> Delivery | None:
        """Start delivering `event` in the background; None when it has nowhere to go."""
        if isinstance(event, TradePaid):
            t = event.trade
            url, mchid, event_type = t.notify_url, t.mchid, "TRANSACTION.SUCCESS"
            resource, out_trade_no, out_refund_no = wire.trade_json(t), t.out_trade_no, None
        elif isinstance(event, RefundDone):
            r = event.refund
            url, mchid, event_type = r.notify_url, r.mchid, "REFUND.SUCCESS"
            resource = wire.refund_json(r, notification=True)
            out_trade_no, out_refund_no = r.out_trade_no, r.out_refund_no
        merchant = self.keys.merchant(mchid)
        if not url or merchant is None:
            return None
        delivery = Delivery(str(uuid.uuid4()), event_type, url, mchid, out_trade_no,
                            out_refund_no)
        body = orjson.dumps(wire.notification_body(delivery.notification_id, event_type,
                                                   resource, merchant.apiv3_key,
                                                   self.clock.now_ms()))
        self.deliveries.append(delivery)
        self._spawn(self._run(delivery, body))
        return delivery

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, delivery: Delivery, body: bytes) -> None:
        decision = self.faults.decide_notification()
        delivery.copies = decision.copies
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        for copy in range(decision.copies):
            self._spawn(self._deliver(delivery, body, drop_first=decision.drop_first and copy == 0))

    async def _deliver(self, delivery: Delivery, body: bytes, *, drop_first: bool) -> None:
        assert self._client is not None, "Notifier.start() was not awaited"
        for attempt, wait_ms in enumerate((0, *self.retry_delays_ms)):
            if wait_ms:
                await asyncio.sleep(wait_ms / 1000)
            delivery.attempts += 1
            if drop_first and attempt == 0:
                delivery.results.append("dropped")
                continue
            headers = wc.signed_headers(self._platform_key, self.keys.public_key_id, body,
                                        timestamp_s=wall_s())
            headers["Content-Type"] = "application/json"
            try:
                response = await self._client.post(delivery.url, content=body, headers=headers)
            except httpx.HTTPError as e:
                delivery.results.append(f"error: {type(e).__name__}")
                continue
            delivery.results.append(str(response.status_code))
            if 200 <= response.status_code < 300:
                delivery.delivered += 1
                return
        log.warning("notification %s to %s given up after %d attempts",
                    delivery.notification_id, delivery.url, delivery.attempts)
