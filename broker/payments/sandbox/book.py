"""The sandbox's trade book: WeChat Pay's order state machine and the money behind it (pure).

Every operation takes `now_ms` (the caller's clock) and first fires the timers that are due
(USERPAYING settling, 45 s auto-revoke, native expiry, refunds completing), so a frozen or fake
clock drives it completely. Money only moves between sandbox wallets (payers) and merchant
balances: the sum of both always equals what was deposited.

States: NOTPAY → SUCCESS (wallet approves a native QR) / CLOSED (merchant close, expiry);
MICROPAY (payment code): see `auth_codes`; PAP (agreement charge): SUCCESS or PAYERROR at once.
Reverse (payment code and agreement trades) works in any state: an unpaid trade becomes
REVOKED, a paid one is given back and becomes REVOKED. Close only affects NOTPAY (paid →
ORDERPAID). Refunds: see refunds.py; wallets, codes issued to payers, contracts: wallets.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import secrets
from typing import Any

from broker.payments.provider import TradeState
from broker.payments.sandbox import auth_codes
from broker.payments.sandbox.auth_codes import CodeBehaviour
from broker.payments.sandbox.records import (
    DEFAULT_PAYER_ID,
    BookError,
    Event,
    SandboxRefund,
    SandboxTrade,
    Timer,
    TradePaid,
    TradeType,
)
from broker.payments.sandbox.refunds import RefundOps
from broker.payments.sandbox.wallets import Wallets
from broker.payments.wechat_codec import china_day

CODE_URL_PREFIX = "weixin://wxpay/bizpayurl?pr="
UNPAID_FINAL = (TradeState.PAYERROR, TradeState.CLOSED, TradeState.REVOKED)


class Book(RefundOps):
    def __init__(self, *, refund_delay_ms: int = 1_000, codepay_revoke_ms: int = 45_000,
                 native_expire_ms: int = 2 * 3600_000, default_balance_fen: int = 10**10,
                 salt: str | None = None) -> None:
        self.refund_delay_ms = refund_delay_ms
        self.codepay_revoke_ms = codepay_revoke_ms
        self.native_expire_ms = native_expire_ms
        self.wallets = Wallets(default_balance_fen)
        self.trades: dict[tuple[str, str], SandboxTrade] = {}
        self.refunds: dict[tuple[str, str], SandboxRefund] = {}
        self._by_code_url: dict[str, tuple[str, str]] = {}
        self._used_codes: set[str] = set()
        self._timers: list[Timer] = []
        self._events: list[Event] = []
        self._seq = 0
        self._now = 0
        self._salt = salt or secrets.token_hex(8)  # QR codes of another run never match

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # -- time ----------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        """Fire every timer due at `now_ms` (time never runs backwards here)."""
        self._now = max(self._now, now_ms)
        while self._timers and self._timers[0].due_ms <= self._now:
            t = heapq.heappop(self._timers)
            self._fire(t)

    def _at(self, due_ms: int, action: str, key: tuple[str, str]) -> None:
        heapq.heappush(self._timers, Timer(due_ms, self._next(), action, key))

    def _fire(self, t: Timer) -> None:
        if t.action == "refund":
            self._complete_refund(t.key, t.due_ms)
            return
        trade = self.trades[t.key]
        if t.action == "expire" and trade.state is TradeState.NOTPAY:
            self._end(trade, TradeState.CLOSED, "订单已过期", t.due_ms)
        elif trade.state is not TradeState.USERPAYING:
            return
        elif t.action == "settle":
            self._charge(trade, trade.payer_id, t.due_ms)
        elif t.action == "cancel":
            self._end(trade, TradeState.PAYERROR, "用户取消支付", t.due_ms, "TRADE_ERROR")
        elif t.action == "revoke":
            self._end(trade, TradeState.REVOKED, "超时未支付，已撤销", t.due_ms)

    def drain_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # -- money ---------------------------------------------------------------------------

    def _charge(self, trade: SandboxTrade, payer_id: str, now_ms: int) -> bool:
        """Debit the payer for the trade: SUCCESS, or PAYERROR NOTENOUGH."""
        trade.payer_id = payer_id
        if self.wallets.payers[payer_id].balance_fen < trade.amount_fen:
            self._end(trade, TradeState.PAYERROR, "余额不足", now_ms, "NOTENOUGH")
            return False
        self.wallets.move(trade.amount_fen, trade.mchid, payer_id, to_payer=False)
        trade.state, trade.state_desc, trade.success_ms = TradeState.SUCCESS, "支付成功", now_ms
        if trade.trade_type is not TradeType.MICROPAY and trade.notify_url:
            self._events.append(TradePaid(dataclasses.replace(trade)))
        return True

    @staticmethod
    def _end(trade: SandboxTrade, state: TradeState, desc: str, now_ms: int,
             error_code: str | None = None) -> None:
        trade.state, trade.state_desc, trade.end_ms = state, desc, now_ms
        trade.error_code = error_code

    # -- orders --------------------------------------------------------------------------

    def _existing(self, mchid: str, out_trade_no: str,
                  fingerprint: tuple[object, ...]) -> SandboxTrade | None:
        trade = self.trades.get((mchid, out_trade_no))
        if trade is not None and trade.fingerprint != fingerprint:
            raise BookError("OUT_TRADE_NO_USED", "out_trade_no already used for another order")
        return trade

    def _new(self, mchid: str, appid: str, out_trade_no: str, kind: TradeType, amount_fen: int,
             description: str, now_ms: int, fingerprint: tuple[object, ...],
             **extra: Any) -> SandboxTrade:
        if not out_trade_no or len(out_trade_no) > 32:
            raise BookError("PARAM_ERROR", "out_trade_no must be 1-32 characters")
        if amount_fen <= 0:
            raise BookError("PARAM_ERROR", "amount.total must be positive")
        seq = self._next()
        tid = f"4200{china_day(now_ms):%Y%m%d}{seq:016d}"
        trade = SandboxTrade(mchid, appid, out_trade_no, kind, amount_fen, description, now_ms,
                             tid, fingerprint, **extra)
        self.trades[trade.key] = trade
        return trade

    def native(self, mchid: str, appid: str, out_trade_no: str, amount_fen: int,
               description: str, now_ms: int, *, notify_url: str, attach: str = "",
               expire_ms: int | None = None) -> SandboxTrade:
        self.advance(now_ms)
        self.wallets.merchant(mchid, appid)
        fingerprint = (TradeType.NATIVE, amount_fen)
        if (trade := self._existing(mchid, out_trade_no, fingerprint)) is not None:
            return trade
        expire_ms = expire_ms if expire_ms is not None else now_ms + self.native_expire_ms
        if expire_ms <= now_ms:
            raise BookError("PARAM_ERROR", "time_expire is in the past")
        trade = self._new(mchid, appid, out_trade_no, TradeType.NATIVE, amount_fen, description,
                          now_ms, fingerprint, notify_url=notify_url, attach=attach,
                          expire_ms=expire_ms, state_desc="订单未支付")
        token = hashlib.sha256(f"{self._salt}:{trade.transaction_id}".encode()).hexdigest()[:16]
        trade.code_url = CODE_URL_PREFIX + token
        self._by_code_url[trade.code_url] = trade.key
        self._at(expire_ms, "expire", trade.key)
        return trade

    def codepay(self, mchid: str, appid: str, out_trade_no: str, amount_fen: int,
                description: str, now_ms: int, *, auth_code: str, store_id: str = "",
                device_id: str = "", attach: str = "", refuse: bool = False) -> SandboxTrade:
        """A payment-code payment. A PAYERROR trade carries the refusal in `error_code`;
        `refuse` makes the bank refuse it (TRADE_ERROR), for fault injection."""
        self.advance(now_ms)
        self.wallets.merchant(mchid, appid)
        fingerprint = (TradeType.MICROPAY, amount_fen, auth_code)
        if (trade := self._existing(mchid, out_trade_no, fingerprint)) is not None:
            return trade
        plan = auth_codes.classify(auth_code)
        if plan is None:
            raise BookError("PARAM_ERROR", "auth_code is not a WeChat payment code")
        trade = self._new(mchid, appid, out_trade_no, TradeType.MICROPAY, amount_fen,
                          description, now_ms, fingerprint, auth_code=auth_code,
                          store_id=store_id, device_id=device_id, attach=attach,
                          payer_id=self.wallets.issued_codes.get(auth_code, DEFAULT_PAYER_ID))
        if auth_code in self._used_codes:
            self._end(trade, TradeState.PAYERROR, "付款码已使用", now_ms, "AUTH_CODE_INVALID")
        elif refuse:
            self._end(trade, TradeState.PAYERROR, "交易错误", now_ms, "TRADE_ERROR")
        elif plan.behaviour is CodeBehaviour.NOTENOUGH:
            self._end(trade, TradeState.PAYERROR, "余额不足", now_ms, "NOTENOUGH")
        elif plan.behaviour is CodeBehaviour.EXPIRED:
            self._end(trade, TradeState.PAYERROR, "付款码已过期", now_ms, "AUTHCODEEXPIRE")
        elif plan.userpaying:
            trade.state, trade.state_desc = TradeState.USERPAYING, "需要用户输入支付密码"
            if plan.settle_after_ms is not None:
                action = "cancel" if plan.behaviour is CodeBehaviour.USERPAYING_CANCEL else "settle"
                self._at(now_ms + plan.settle_after_ms, action, trade.key)
            self._at(now_ms + self.codepay_revoke_ms, "revoke", trade.key)
        else:
            self._charge(trade, trade.payer_id, now_ms)
        self._used_codes.add(auth_code)
        return trade

    def agreement_charge(self, mchid: str, appid: str, out_trade_no: str, amount_fen: int,
                         description: str, now_ms: int, *, contract_id: str, notify_url: str,
                         attach: str = "", refuse: bool = False) -> SandboxTrade:
        self.advance(now_ms)
        self.wallets.merchant(mchid, appid)
        fingerprint = (TradeType.PAP, amount_fen, contract_id)
        if (trade := self._existing(mchid, out_trade_no, fingerprint)) is not None:
            return trade
        contract = self.wallets.active_contract(contract_id, mchid)
        trade = self._new(mchid, appid, out_trade_no, TradeType.PAP, amount_fen, description,
                          now_ms, fingerprint, contract_id=contract_id, notify_url=notify_url,
                          attach=attach, payer_id=contract.payer_id)
        if refuse:
            self._end(trade, TradeState.PAYERROR, "交易错误", now_ms, "TRADE_ERROR")
        else:
            self._charge(trade, contract.payer_id, now_ms)
        return trade

    # -- the payer's side ----------------------------------------------------------------

    def trade_for_code_url(self, code_url: str, now_ms: int) -> SandboxTrade:
        self.advance(now_ms)
        key = self._by_code_url.get(code_url)
        if key is None:
            raise BookError("ORDER_NOT_EXIST", "this QR code is not a sandbox order")
        return self.trades[key]

    def approve(self, code_url: str, payer_id: str, now_ms: int, *,
                refuse: bool = False) -> SandboxTrade:
        """The payer scanned the native QR and paid. Refusals leave the order payable."""
        trade = self.trade_for_code_url(code_url, now_ms)
        payer = self.wallets.payer(payer_id)
        if trade.state.paid:
            if trade.payer_id == payer_id:
                return trade
            raise BookError("ORDERPAID", "this order is already paid")
        if trade.state is not TradeState.NOTPAY:
            raise BookError("ORDER_CLOSED", "this order is closed")
        if refuse:
            raise BookError("TRADE_ERROR", "the bank refused the payment")
        if payer.balance_fen < trade.amount_fen:
            raise BookError("NOTENOUGH", "insufficient balance")
        self._charge(trade, payer_id, now_ms)
        return trade

    def confirm(self, mchid: str, out_trade_no: str, approve: bool, now_ms: int) -> SandboxTrade:
        """The payer enters (or cancels) the password of a USERPAYING payment-code trade."""
        trade = self.query(mchid, out_trade_no, now_ms)
        if trade.state is not TradeState.USERPAYING:
            raise BookError("INVALID_REQUEST", f"trade is {trade.state}, not USERPAYING")
        if approve:
            self._charge(trade, trade.payer_id, now_ms)
        else:
            self._end(trade, TradeState.PAYERROR, "用户取消支付", now_ms, "TRADE_ERROR")
        return trade

    # -- the merchant's other calls ------------------------------------------------------

    def query(self, mchid: str, out_trade_no: str, now_ms: int) -> SandboxTrade:
        self.advance(now_ms)
        trade = self.trades.get((mchid, out_trade_no))
        if trade is None:
            raise BookError("ORDER_NOT_EXIST", "订单不存在")
        return trade

    def close(self, mchid: str, out_trade_no: str, now_ms: int) -> SandboxTrade:
        trade = self.query(mchid, out_trade_no, now_ms)
        if trade.state.paid:
            raise BookError("ORDERPAID", "订单已支付")
        if trade.state is TradeState.USERPAYING:
            raise BookError("INVALID_REQUEST", "the payer is paying: reverse the order")
        if trade.state is TradeState.NOTPAY:
            self._end(trade, TradeState.CLOSED, "订单已关闭", now_ms)
        return trade

    def reverse(self, mchid: str, out_trade_no: str, now_ms: int) -> SandboxTrade:
        trade = self.query(mchid, out_trade_no, now_ms)
        if trade.trade_type is TradeType.NATIVE:
            raise BookError("INVALID_REQUEST", "only payment-code and agreement orders reverse")
        if trade.state.paid:
            back = trade.amount_fen - trade.refunded_fen - trade.pending_refund_fen
            self.wallets.move(back, mchid, trade.payer_id, to_payer=True)
            trade.returned_fen = back
            self._end(trade, TradeState.REVOKED, "已撤销", now_ms)
        elif trade.state not in UNPAID_FINAL:
            self._end(trade, TradeState.REVOKED, "已撤销", now_ms)
        return trade
