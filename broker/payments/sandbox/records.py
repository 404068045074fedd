"""What the sandbox's trade book holds: merchants, payers and their wallets, trades, refunds,
agreement contracts, the events it emits, and its refusals (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from broker.payments.provider import RefundStatus, TradeState

__all__ = ["DEFAULT_PAYER_ID", "ERROR_STATUS", "BookError", "Contract", "Event", "Merchant",
           "Payer", "RefundDone", "SandboxRefund", "SandboxTrade", "Timer", "TradePaid",
           "TradeType"]

DEFAULT_PAYER_ID = "o-sbx-default"

# HTTP status of each refusal code the sandbox answers (WeChat v3's codes).
ERROR_STATUS: dict[str, int] = {
    "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400,
    "APPID_MCHID_NOT_MATCH": 400,
    "AUTHCODEEXPIRE": 400,
    "AUTH_CODE_INVALID": 400,
    "ORDERPAID": 400,
    "ORDER_CLOSED": 400,
    "ORDERREVERSED": 400,
    "CONTRACT_NOT_EXIST": 400,
    "NO_STATEMENT_EXIST": 400,
    "SIGN_ERROR": 401,
    "NOTENOUGH": 403,
    "TRADE_ERROR": 403,
    "OUT_TRADE_NO_USED": 403,
    "ORDER_NOT_EXIST": 404,
    "RESOURCE_NOT_EXISTS": 404,
    "SYSTEM_ERROR": 500,
}


class TradeType(StrEnum):
    NATIVE = "NATIVE"  # dynamic QR, the payer scans
    MICROPAY = "MICROPAY"  # payment code, the terminal scans
    PAP = "PAP"  # charge of a pre-authorised agreement (face pay)


class BookError(Exception):
    """A definite refusal: the v3 error `code`, its HTTP status and a message."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code
        self.status = ERROR_STATUS.get(code, 400)


@dataclass(slots=True)
class Merchant:
    mchid: str
    appid: str
    name: str
    balance_fen: int = 0


@dataclass(slots=True)
class Payer:
    payer_id: str  # the payer's openid
    name: str
    balance_fen: int


@dataclass(slots=True)
class Contract:
    contract_id: str
    mchid: str
    payer_id: str
    plan_id: str
    create_ms: int
    active: bool = True


@dataclass(slots=True)
class SandboxTrade:
    mchid: str
    appid: str
    out_trade_no: str
    trade_type: TradeType
    amount_fen: int
    description: str
    create_ms: int
    transaction_id: str
    fingerprint: tuple[object, ...]  # what makes a repeated request "the same request"
    state: TradeState = TradeState.NOTPAY
    state_desc: str = ""
    error_code: str | None = None  # the refusal answered for a PAYERROR trade
    attach: str = ""
    notify_url: str | None = None
    expire_ms: int | None = None
    code_url: str | None = None
    auth_code: str | None = None
    contract_id: str | None = None
    store_id: str = ""
    device_id: str = ""
    payer_id: str = DEFAULT_PAYER_ID  # who pays (or paid)
    success_ms: int | None = None
    end_ms: int | None = None  # closed / revoked / failed
    refunded_fen: int = 0  # refunds that succeeded
    pending_refund_fen: int = 0  # refunds still PROCESSING
    returned_fen: int = 0  # given back by a reverse

    @property
    def key(self) -> tuple[str, str]:
        return (self.mchid, self.out_trade_no)


@dataclass(slots=True)
class SandboxRefund:
    mchid: str
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    total_fen: int
    reason: str
    notify_url: str | None
    create_ms: int
    status: RefundStatus = RefundStatus.PROCESSING
    success_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TradePaid:
    """A native or agreement trade reached SUCCESS: notify `trade.notify_url`."""

    trade: SandboxTrade  # a snapshot taken when it was paid


@dataclass(frozen=True, slots=True)
class RefundDone:
    refund: SandboxRefund  # a snapshot taken when it succeeded


Event = TradePaid | RefundDone


@dataclass(order=True, slots=True)
class Timer:
    due_ms: int
    seq: int
    action: str = field(compare=False)  # "settle" | "cancel" | "revoke" | "expire" | "refund"
    key: tuple[str, str] = field(compare=False)
