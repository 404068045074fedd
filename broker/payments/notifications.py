"""Provider notifications (loop-bound): verify, check against our records, apply once.

A notification is answered OK only after its fact is stored (or it was seen before), so a
crash in between makes the provider deliver it again. A repeat (same notification id, or a
fact the attempt already reflects) changes nothing. A verified notice whose amount differs
from the attempt's is not applied: the attempt is queried instead and the mismatch logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from broker.payments.driver import AttemptDriver
from broker.payments.latency import LatencyLog
from broker.payments.provider import NotificationRejected, NotificationReply
from broker.payments.refunding import Refunder
from broker.storage import payments as pay_db

log = logging.getLogger(__name__)


@dataclass
class NotificationStats:
    received: int = 0
    rejected: int = 0
    repeats: int = 0
    applied: int = 0
    mismatched: int = 0
    unknown_trade: int = 0


class NotificationHandler:
    def __init__(self, driver: AttemptDriver, refunder: Refunder, *,
                 latency: LatencyLog | None = None) -> None:
        self.driver = driver
        self.refunder = refunder
        self.provider = driver.provider
        self.stats = NotificationStats()
        self.latency = latency or LatencyLog()

    async def handle(self, headers: Mapping[str, str], body: bytes) -> NotificationReply:
        with self.latency.measure("notification", ""):
            reply, order_id = await self._handle(headers, body)
        if order_id:  # re-key the sample by order (known only once parsed)
            kind, _key, s = self.latency.samples.pop()
            self.latency.samples.append((kind, order_id, s))
        return reply

    async def _handle(self, headers: Mapping[str, str],
                      body: bytes) -> tuple[NotificationReply, str | None]:
        self.stats.received += 1
        now = self.driver.now_ms()
        try:
            note = self.provider.parse_notification(headers, body, now)
        except NotificationRejected as exc:
            self.stats.rejected += 1
            log.warning("payment notification rejected: %s", exc)
            return self.provider.notification_ack(False), None
        db = self.driver.db
        order_id: str | None = None
        if note.kind == "refund" and note.refund is not None:
            await self.refunder.on_notification(note.refund)
            outcome, trade_no = "refund", note.refund.out_trade_no
        elif note.trade is not None:
            trade_no = note.trade.out_trade_no
            attempt = await pay_db.get_attempt(db, trade_no)
            order_id = attempt.order_id if attempt else None
            if attempt is None:
                self.stats.unknown_trade += 1
                log.error("notification for unknown trade %s", trade_no)
                outcome = "unknown_trade"
            elif note.trade.amount_fen is not None and note.trade.amount_fen != (
                    attempt.amount_fen):
                self.stats.mismatched += 1
                log.error("notification for %s says %s fen, the attempt is %s fen: querying",
                          trade_no, note.trade.amount_fen, attempt.amount_fen)
                await self.driver.act(attempt)
                outcome = "amount_mismatch"
            else:
                before = attempt.state
                after = await self.driver.observe(trade_no, note.trade, attempt)
                changed = after is not None and after.state != before
                self.stats.applied += changed
                self.stats.repeats += not changed
                outcome = "applied" if changed else "no_change"
        else:
            return self.provider.notification_ack(False), None
        await pay_db.record_notification(db, note.notification_id,
                                               provider=self.provider.name,
                                               out_trade_no=trade_no, kind=note.kind,
                                               now_ms=now, outcome=outcome)
        return self.provider.notification_ack(True), order_id
