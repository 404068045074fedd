"""The payment provider interface (pure types, no I/O).

Every adapter (the sandbox speaks WeChat Pay API v3 and is reached through the WeChat adapter;
Alipay has its own) implements `PaymentProvider`. Amounts are integer fen; times are UTC epoch
milliseconds. One `out_trade_no` is one payment *attempt*: a retry after a definite failure uses
a new one; an unknown outcome is resolved by `query`, never by sending the request again.

Errors:
- `ProviderError` is a definite answer from the provider (a 4xx with a code such as
  `AUTHCODEEXPIRE`, `NOTENOUGH`, `ORDERPAID`, `ORDER_NOT_EXIST`): the request had no effect, or
  the effect the code names.
- `OutcomeUnknown` is everything else (HTTP 5xx, `SYSTEM_ERROR`, `BANKERROR`, a timeout, a
  connection dropped after sending, an unverifiable response): the money may or may not have
  moved, and only `query` can tell.
- `NotificationRejected` is a notification that must not be acted on (bad signature, stale
  timestamp, wrong merchant, undecryptable resource); the provider will retry it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol


class TradeState(StrEnum):
    """A provider-side trade's state, WeChat's names (Alipay states are mapped onto these)."""

    NOTPAY = "NOTPAY"  # created, not paid (native QR waiting for a scan)
    USERPAYING = "USERPAYING"  # the payer is confirming (password, limit check)
    SUCCESS = "SUCCESS"
    PAYERROR = "PAYERROR"  # definite failure (insufficient funds, bank refused)
    CLOSED = "CLOSED"  # closed unpaid by the merchant or by expiry
    REVOKED = "REVOKED"  # reversed (payment code orders), money returned if it had moved
    REFUND = "REFUND"  # paid, then (partly) refunded

    @property
    def final(self) -> bool:
        return self in FINAL_TRADE_STATES

    @property
    def paid(self) -> bool:
        """The payer's money reached the merchant (a refund later does not undo that)."""
        return self in (TradeState.SUCCESS, TradeState.REFUND)


FINAL_TRADE_STATES = frozenset({TradeState.SUCCESS, TradeState.PAYERROR, TradeState.CLOSED,
                                TradeState.REVOKED, TradeState.REFUND})


class RefundStatus(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    ABNORMAL = "ABNORMAL"


class ProviderError(Exception):
    """A definite answer from the provider: `code` is the provider's error code."""

    def __init__(self, code: str, message: str = "", *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.http_status = http_status


class TradeNotFound(ProviderError):
    """The provider has no trade with this out_trade_no (WeChat ORDER_NOT_EXIST)."""


class OutcomeUnknown(Exception):
    """The request may or may not have taken effect: resolve with `query`."""


class NotificationRejected(Exception):
    """A notification that must not be processed; `reason` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Trade:
    """What the provider says about one attempt."""

    out_trade_no: str
    state: TradeState
    amount_fen: int | None = None  # the order total the provider holds
    transaction_id: str | None = None  # the provider's own id, once paid
    payer: str | None = None  # the payer's id at the provider (openid / buyer_user_id)
    success_ms: int | None = None
    state_desc: str = ""  # the provider's words for PAYERROR and the like


@dataclass(frozen=True, slots=True)
class NativeOrder:
    """A dynamic QR order: the shopper scans `code_url` with the wallet app."""

    out_trade_no: str
    code_url: str
    expires_ms: int


@dataclass(frozen=True, slots=True)
class Refund:
    out_refund_no: str
    out_trade_no: str
    status: RefundStatus
    amount_fen: int
    refund_id: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified, decrypted asynchronous notification."""

    notification_id: str
    kind: Literal["transaction", "refund"]
    trade: Trade | None = None  # kind == "transaction"
    refund: Refund | None = None  # kind == "refund"
    create_ms: int | None = None


@dataclass(frozen=True, slots=True)
class BillRow:
    """One line of the provider's daily trade bill (reconciliation)."""

    out_trade_no: str
    transaction_id: str
    state: TradeState
    amount_fen: int
    refunded_fen: int = 0


@dataclass(frozen=True, slots=True)
class NotificationReply:
    """What to answer the provider's notification request with."""

    status: int
    body: bytes
    content_type: str = "application/json"


class PaymentProvider(Protocol):
    """An adapter to one payment provider. All methods are coroutines; none retries a
    request whose outcome is unknown (it raises `OutcomeUnknown` instead)."""

    name: str  # "sandbox" | "wechat" | "alipay"
    merchant_id: str

    async def native(self, out_trade_no: str, amount_fen: int, description: str, *,
                     expires_ms: int, attach: str = "") -> NativeOrder: ...

    async def codepay(self, out_trade_no: str, amount_fen: int, description: str, *,
                      auth_code: str, store_id: str, device_id: str) -> Trade: ...

    async def agreement_pay(self, out_trade_no: str, amount_fen: int, description: str, *,
                            contract_id: str) -> Trade:
        """Charge a pre-authorised wallet agreement (face pay without a code)."""
        ...

    async def query(self, out_trade_no: str) -> Trade: ...

    async def reverse(self, out_trade_no: str) -> None:
        """Cancel a payment code order whatever its state (refunds it if it was paid)."""
        ...

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid order so that it can no longer be paid."""
        ...

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int,
                     total_fen: int, reason: str = "") -> Refund: ...

    async def query_refund(self, out_refund_no: str) -> Refund: ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           now_ms: int) -> Notification:
        """Verify and decrypt; raise `NotificationRejected`. Pure CPU, no I/O."""
        ...

    def notification_ack(self, ok: bool) -> NotificationReply:
        """The reply body the provider expects (WeChat: 204 / JSON FAIL; Alipay: 'success')."""
        ...

    async def bill(self, day: dt.date) -> Sequence[BillRow]:
        """The provider's record of the day's trades (China time), for reconciliation."""
        ...

    async def aclose(self) -> None: ...
