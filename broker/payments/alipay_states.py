"""Alipay openapi answers mapped onto the provider interface (pure: no I/O, no SDK).

- Amounts: Alipay speaks yuan strings ("12.34"); we speak integer fen. The conversion is exact
  (integer arithmetic on a strict pattern, never a float): more than 2 decimals, signs, exponents,
  blanks and amounts beyond Alipay's ceiling (100,000,000.00 yuan) are refused.
- Times: Alipay's `yyyy-MM-dd HH:mm:ss` strings are China time (UTC+8, no DST).
- Response codes (the openapi "公共错误码"): 10000 success; 10003 "waiting for the user" (only
  meaningful for `alipay.trade.pay`); 20000 service unavailable -> outcome unknown; 20001, 40001,
  40002, 40003, 40006 the gateway refused the request (definite, nothing happened); 40004 a
  business failure whose `sub_code` says which (`ACQ.TRADE_NOT_EXIST` -> `TradeNotFound`,
  `ACQ.SYSTEM_ERROR` and `isp.*` -> unknown, the rest definite). Any other code is treated as
  outcome-unknown: a code we do not know never turns into a definite failure.
- Trade states: WAIT_BUYER_PAY -> USERPAYING (payment code) / NOTPAY (QR precreate);
  TRADE_SUCCESS and TRADE_FINISHED -> SUCCESS, or REFUND once something was refunded;
  TRADE_CLOSED -> CLOSED, REVOKED when it was closed by `alipay.trade.cancel`, REFUND when it
  was closed by a full refund.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from broker.payments.provider import (
    Notification,
    NotificationRejected,
    OutcomeUnknown,
    ProviderError,
    RefundStatus,
    Trade,
    TradeNotFound,
    TradeState,
)

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
ALIPAY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_FEN = 100_000_000 * 100  # Alipay's per-trade ceiling: 100,000,000.00 yuan

_YUAN_RE = re.compile(r"(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,2}))?")
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


# --- amounts -------------------------------------------------------------------------------------

def yuan_to_fen(text: str) -> int:
    """'12.34' -> 1234. Raises ValueError for anything that is not a plain, non-negative amount
    of at most 2 decimals within Alipay's ceiling."""
    if not isinstance(text, str):
        raise ValueError(f"amount must be a string, not {type(text).__name__}")
    match = _YUAN_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a yuan amount: {text!r}")
    whole, decimals = match.group(1), match.group(2) or ""
    fen = int(whole) * 100 + int(decimals.ljust(2, "0"))
    if fen > MAX_FEN:
        raise ValueError(f"amount beyond Alipay's ceiling: {text!r}")
    return fen


def yuan_to_fen_or_none(value: object) -> int | None:
    """For amounts inside a provider answer: a missing or malformed amount is `None`."""
    if not isinstance(value, str):
        return None
    try:
        return yuan_to_fen(value)
    except ValueError:
        return None


def fen_to_yuan(fen: int) -> str:
    """1234 -> '12.34'. Only amounts that can be sent (1 fen up to the ceiling)."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise ValueError(f"amount must be integer fen, not {fen!r}")
    if not 1 <= fen <= MAX_FEN:
        raise ValueError(f"amount out of range: {fen} fen")
    return f"{fen // 100}.{fen % 100:02d}"


# --- times ---------------------------------------------------------------------------------------

def parse_alipay_time(text: str) -> int:
    """'2024-05-01 12:00:00' (China time) -> UTC epoch ms. Raises ValueError."""
    if not isinstance(text, str) or _TIME_RE.fullmatch(text) is None:
        raise ValueError(f"not an Alipay time: {text!r}")
    local = dt.datetime.strptime(text, ALIPAY_TIME_FORMAT).replace(tzinfo=CHINA_TZ)
    return int(local.timestamp()) * 1000


def alipay_time_or_none(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_alipay_time(value)
    except ValueError:
        return None


def format_alipay_time(epoch_ms: int) -> str:
    """UTC epoch ms -> China time string (seconds truncated towards the past)."""
    return dt.datetime.fromtimestamp(epoch_ms // 1000, CHINA_TZ).strftime(ALIPAY_TIME_FORMAT)


# --- response codes ------------------------------------------------------------------------------

class AlipayApi(StrEnum):
    PAY = "alipay.trade.pay"
    PRECREATE = "alipay.trade.precreate"
    QUERY = "alipay.trade.query"
    CANCEL = "alipay.trade.cancel"
    CLOSE = "alipay.trade.close"
    REFUND = "alipay.trade.refund"
    REFUND_QUERY = "alipay.trade.fastpay.refund.query"


class Verdict(StrEnum):
    OK = "ok"  # code 10000: the call did what it says
    WAITING = "waiting"  # code 10003 on a pay call: the payer is confirming on the phone
    FAILED = "failed"  # a definite refusal: nothing happened, or what the sub_code names
    NOT_FOUND = "not_found"  # ACQ.TRADE_NOT_EXIST
    UNKNOWN = "unknown"  # anything else: only a query can tell


SUCCESS_CODE = "10000"
WAITING_CODE = "10003"
UNAVAILABLE_CODE = "20000"
BUSINESS_FAILURE_CODE = "40004"
# The gateway refused the request itself (auth, missing/invalid argument, permission).
GATEWAY_REFUSALS = frozenset({"20001", "40001", "40002", "40003", "40006"})
# 40004 sub_codes that do not say what happened.
UNKNOWN_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "SYSTEM_ERROR"})
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"


@dataclass(frozen=True, slots=True)
class ResponseVerdict:
    """What one verified gateway answer means; `code` is the sub_code when there is one."""

    verdict: Verdict
    code: str
    message: str = ""

    def error(self) -> Exception | None:
        """The exception this verdict raises, `None` for OK and WAITING."""
        if self.verdict is Verdict.FAILED:
            return ProviderError(self.code, self.message)
        if self.verdict is Verdict.NOT_FOUND:
            return TradeNotFound(self.code, self.message)
        if self.verdict is Verdict.UNKNOWN:
            return OutcomeUnknown(f"alipay {self.code}: {self.message}".rstrip(": "))
        return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def classify_response(api: AlipayApi, response: Mapping[str, object]) -> ResponseVerdict:
    """Map the (signature-verified) `<api>_response` object onto one verdict. Total: every
    mapping gives exactly one verdict, unknown codes give UNKNOWN."""
    raw_code = response.get("code")
    code = raw_code.strip() if isinstance(raw_code, str) else ""  # Alipay sends strings
    sub_code = _text(response.get("sub_code")).strip()
    message = _text(response.get("sub_msg")) or _text(response.get("msg"))
    if code == SUCCESS_CODE:
        if api is AlipayApi.CANCEL and _text(response.get("retry_flag")) == "Y":
            # the cancel did not complete: Alipay asks for the same cancel again
            return ResponseVerdict(Verdict.UNKNOWN, "RETRY", message)
        return ResponseVerdict(Verdict.OK, code, message)
    if code == WAITING_CODE:
        if api is AlipayApi.PAY:
            return ResponseVerdict(Verdict.WAITING, code, message)
        return ResponseVerdict(Verdict.UNKNOWN, code, message)
    if code == BUSINESS_FAILURE_CODE:
        if not sub_code or sub_code in UNKNOWN_SUB_CODES or sub_code.startswith("isp."):
            return ResponseVerdict(Verdict.UNKNOWN, sub_code or code, message)
        if sub_code == TRADE_NOT_EXIST:
            return ResponseVerdict(Verdict.NOT_FOUND, sub_code, message)
        if api is AlipayApi.CANCEL and _text(response.get("retry_flag")) == "Y":
            return ResponseVerdict(Verdict.UNKNOWN, sub_code, message)
        return ResponseVerdict(Verdict.FAILED, sub_code, message)
    if code in GATEWAY_REFUSALS:
        return ResponseVerdict(Verdict.FAILED, sub_code or code, message)
    # 20000 (service unavailable) and every code we do not know
    return ResponseVerdict(Verdict.UNKNOWN, sub_code or code or "NO_CODE", message)


# --- trade states --------------------------------------------------------------------------------

class TradeKind(StrEnum):
    CODE = "code"  # alipay.trade.pay: payment code, face, agreement
    QR = "qr"  # alipay.trade.precreate: the shopper scans our QR


def trade_state(trade_status: object, *, kind: TradeKind | None = None, refunded_fen: int = 0,
                reversed_: bool = False) -> TradeState | None:
    """Alipay `trade_status` -> TradeState; `None` for a status we do not know. `kind` None
    (unknown) reads WAIT_BUYER_PAY as USERPAYING (the trade exists, the buyer is paying)."""
    if trade_status == "WAIT_BUYER_PAY":
        return TradeState.NOTPAY if kind is TradeKind.QR else TradeState.USERPAYING
    if trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        return TradeState.REFUND if refunded_fen > 0 else TradeState.SUCCESS
    if trade_status == "TRADE_CLOSED":
        if reversed_:
            return TradeState.REVOKED
        return TradeState.REFUND if refunded_fen > 0 else TradeState.CLOSED
    return None


def refund_status(response: Mapping[str, object]) -> RefundStatus:
    """`alipay.trade.fastpay.refund.query` (code 10000): `refund_status` REFUND_SUCCESS, or (older
    gateways, no `refund_status` field) refund data in the answer, means refunded. No data means
    not received, failed, or not processed yet (Alipay asks to query again a little later): we
    report PROCESSING, and re-sending the refund with the same out_request_no settles it."""
    status = _text(response.get("refund_status"))
    if status == "REFUND_SUCCESS":
        return RefundStatus.SUCCESS
    if not status and yuan_to_fen_or_none(response.get("refund_amount")):
        return RefundStatus.SUCCESS
    return RefundStatus.PROCESSING


# --- notifications -------------------------------------------------------------------------------

TRADE_NOTIFY_TYPE = "trade_status_sync"
REVERSE_ACTION = "reverseAction"


def notification_from_fields(fields: Mapping[str, str], *, app_id: str, seller_id: str | None,
                             now_ms: int, max_age_ms: int, max_future_ms: int) -> Notification:
    """A signature-verified notification's fields -> `Notification`; raises
    `NotificationRejected` (`wrong_merchant`, `stale`, `malformed`, `unsupported`)."""
    if fields.get("app_id") != app_id:
        raise NotificationRejected("wrong_merchant", f"app_id {fields.get('app_id')!r}")
    if seller_id is not None and fields.get("seller_id") != seller_id:
        raise NotificationRejected("wrong_merchant", f"seller_id {fields.get('seller_id')!r}")
    try:
        notify_ms = parse_alipay_time(fields.get("notify_time", ""))
    except ValueError as exc:
        raise NotificationRejected("malformed", "notify_time") from exc
    if notify_ms < now_ms - max_age_ms or notify_ms > now_ms + max_future_ms:
        raise NotificationRejected("stale", f"notify_time {fields.get('notify_time')}")
    notify_type = fields.get("notify_type", "")
    if notify_type != TRADE_NOTIFY_TYPE:
        raise NotificationRejected("unsupported", f"notify_type {notify_type!r}")
    notify_id = fields.get("notify_id", "")
    out_trade_no = fields.get("out_trade_no", "")
    if not notify_id or not out_trade_no:
        raise NotificationRejected("malformed", "notify_id and out_trade_no are required")
    refunded = yuan_to_fen_or_none(fields.get("refund_fee")) or 0
    state = trade_state(fields.get("trade_status"), refunded_fen=refunded,
                        reversed_=fields.get("notify_action_type") == REVERSE_ACTION)
    if state is None:
        raise NotificationRejected("unsupported", f"trade_status {fields.get('trade_status')!r}")
    trade = Trade(
        out_trade_no=out_trade_no,
        state=state,
        amount_fen=yuan_to_fen_or_none(fields.get("total_amount")),
        transaction_id=fields.get("trade_no") or None,
        payer=fields.get("buyer_id") or fields.get("buyer_open_id") or None,
        success_ms=alipay_time_or_none(fields.get("gmt_payment")) if state.paid else None,
    )
    return Notification(notification_id=notify_id, kind="transaction", trade=trade,
                        create_ms=notify_ms)
