"""Refunds of paid trades, part of the sandbox's trade book (pure; mixed into `Book`).

Idempotent on out_refund_no (the same refund again is the same refund; another refund under a
used number is refused); the refunds of a trade never exceed its amount; the trade goes to
REFUND at once, the refund goes PROCESSING → SUCCESS after `refund_delay_ms`, when the money
returns to the payer and a REFUND.SUCCESS notification is emitted.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from broker.payments.provider import RefundStatus, TradeState
from broker.payments.sandbox.records import BookError, Event, RefundDone, SandboxRefund
from broker.payments.wechat_codec import china_day

if TYPE_CHECKING:
    from broker.payments.sandbox.records import SandboxTrade
    from broker.payments.sandbox.wallets import Wallets


class RefundOps:
    refunds: dict[tuple[str, str], SandboxRefund]
    trades: dict[tuple[str, str], SandboxTrade]
    wallets: Wallets
    refund_delay_ms: int
    _events: list[Event]

    if TYPE_CHECKING:
        def advance(self, now_ms: int) -> None: ...
        def query(self, mchid: str, out_trade_no: str, now_ms: int) -> SandboxTrade: ...
        def _at(self, due_ms: int, action: str, key: tuple[str, str]) -> None: ...
        def _next(self) -> int: ...

    def refund(self, mchid: str, out_trade_no: str, out_refund_no: str, amount_fen: int,
               total_fen: int, now_ms: int, *, reason: str = "",
               notify_url: str | None = None) -> SandboxRefund:
        self.advance(now_ms)
        existing = self.refunds.get((mchid, out_refund_no))
        if existing is not None:
            if (existing.out_trade_no, existing.amount_fen) != (out_trade_no, amount_fen):
                raise BookError("INVALID_REQUEST", "out_refund_no used for another refund")
            return existing
        trade = self.query(mchid, out_trade_no, now_ms)
        if not trade.state.paid:
            raise BookError("INVALID_REQUEST", f"trade is {trade.state}: nothing to refund")
        if total_fen != trade.amount_fen:
            raise BookError("PARAM_ERROR", "amount.total differs from the order total")
        if amount_fen <= 0 or (trade.refunded_fen + trade.pending_refund_fen + amount_fen
                               > trade.amount_fen):
            raise BookError("INVALID_REQUEST", "refund exceeds the refundable amount")
        refund_id = f"5030{china_day(now_ms):%Y%m%d}{self._next():017d}"
        refund = SandboxRefund(mchid, out_refund_no, refund_id, out_trade_no,
                               trade.transaction_id, amount_fen, total_fen, reason, notify_url,
                               now_ms)
        self.refunds[(mchid, out_refund_no)] = refund
        trade.pending_refund_fen += amount_fen
        trade.state, trade.state_desc = TradeState.REFUND, "转入退款"
        self._at(now_ms + self.refund_delay_ms, "refund", (mchid, out_refund_no))
        self.advance(now_ms)  # a zero delay completes at once
        return refund

    def query_refund(self, mchid: str, out_refund_no: str, now_ms: int) -> SandboxRefund:
        self.advance(now_ms)
        refund = self.refunds.get((mchid, out_refund_no))
        if refund is None:
            raise BookError("RESOURCE_NOT_EXISTS", "退款单不存在")
        return refund

    def _complete_refund(self, key: tuple[str, str], at_ms: int) -> None:
        refund = self.refunds[key]
        if refund.status is not RefundStatus.PROCESSING:
            return
        trade = self.trades[(refund.mchid, refund.out_trade_no)]
        refund.status, refund.success_ms = RefundStatus.SUCCESS, at_ms
        trade.pending_refund_fen -= refund.amount_fen
        trade.refunded_fen += refund.amount_fen
        self.wallets.move(refund.amount_fen, trade.mchid, trade.payer_id, to_payer=True)
        if refund.notify_url:
            self._events.append(RefundDone(dataclasses.replace(refund)))
