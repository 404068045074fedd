"""The Alipay adapter: Face-to-Face payment (付款码 / 扫码 / 刷脸) and merchant withholding on
`python-alipay-sdk` (3.4.x).

Calls go through `AliPay.server_api` (the SDK's helpers pin scenes and drop parameters; face pay
uses scene `security_code`, which `api_alipay_trade_pay` refuses). The SDK is synchronous
(`urllib.request.urlopen`, a GET with the signed parameters in the query string), so every call
runs in a worker thread with the SDK's timeout. Its answer is trusted only after the SDK has
verified Alipay's RSA2 signature over the `<method>_response` object; a timeout, a dropped
connection, an HTTP error, an unsigned or badly signed answer, or a code we do not know is
`OutcomeUnknown` (query, never re-send). What the codes mean is in `alipay_states`.

What the adapter remembers in memory (bounded, lost on restart, so only ever a refinement):
- which `out_trade_no` was a QR precreate: Alipay creates a precreated trade only when the
  shopper scans it, so until then `alipay.trade.query` says ACQ.TRADE_NOT_EXIST; for a trade we
  precreated that reads as NOTPAY, and WAIT_BUYER_PAY reads as NOTPAY rather than USERPAYING;
- which trades we cancelled (`alipay.trade.query` then says TRADE_CLOSED, reported REVOKED);
- the refunds we made (`query` reports REFUND once something was refunded, `query_refund` finds
  the out_trade_no that Alipay's refund query needs).

Notifications (`trade_status_sync`, form-encoded POST): the SDK's `verify` checks the RSA2
signature over all fields but `sign` and `sign_type`; we then check `app_id` (and `seller_id`
when configured) and the age of `notify_time`. Alipay re-sends an unanswered notification up to
8 times over about 25 hours (4m, 10m, 10m, 1h, 2h, 6h, 15h); its documentation calls
`notify_time` the time the notification was sent but does not say that a retry gets a fresh one,
and the SDK checks no time at all. A window shorter than the retry horizon could therefore drop a
genuine, paid notification for good, so the default accepts a `notify_time` up to 26 h old and at
most 5 minutes ahead: the signature is what authenticates, and processing is idempotent, so a
replayed genuine notification changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from broker.payments.alipay_states import (
    AlipayApi,
    TradeKind,
    Verdict,
    alipay_time_or_none,
    classify_response,
    fen_to_yuan,
    format_alipay_time,
    notification_from_fields,
    refund_status,
    trade_state,
    yuan_to_fen_or_none,
)
from broker.payments.provider import (
    BillRow,
    NativeOrder,
    Notification,
    NotificationRejected,
    NotificationReply,
    OutcomeUnknown,
    ProviderError,
    Refund,
    RefundStatus,
    Trade,
    TradeNotFound,
    TradeState,
)

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
SANDBOX_GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
FACE_TO_FACE = "FACE_TO_FACE_PAYMENT"
WITHHOLDING = "GENERAL_WITHHOLDING"
SUBJECT_MAX = 256
NOTIFY_MAX_FIELDS = 200


@dataclass(frozen=True, slots=True)
class AlipaySettings:
    """One Alipay application (开放平台应用) in public-key mode (not certificate mode).

    Keys may be PEM, or the bare base64 the Alipay console shows (PKCS#1 or PKCS#8 private key,
    X.509 SubjectPublicKeyInfo public key)."""

    app_id: str
    app_private_key: str  # ours: signs every request (RSA2)
    alipay_public_key: str  # Alipay's: verifies every answer and notification
    notify_url: str | None = None  # sent with pay / precreate
    gateway: str = PRODUCTION_GATEWAY  # SANDBOX_GATEWAY, or a local test gateway
    seller_id: str | None = None  # the merchant PID (2088…); notifications must carry it if set
    timeout_s: float = 10.0  # per call: connect + answer
    notify_max_age_s: float = 26 * 3600  # see the module docstring
    notify_max_future_s: float = 300


def _pem(key: str, label: str) -> str:
    """Wrap a bare base64 key in PEM armour (the label does not matter to the SDK's importer,
    which tries PKCS#1, PKCS#8 and SubjectPublicKeyInfo on the DER)."""
    key = key.strip()
    if key.startswith("-----BEGIN"):
        return key
    body = "".join(key.split())
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


class _Memo:
    """A bounded insertion-ordered map (oldest entries go first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class AlipayProvider:
    """`PaymentProvider` for Alipay. `merchant_id` is the seller PID when configured, else the
    app id. See the module docstring for what is remembered and how notifications are judged."""

    name = "alipay"

    def __init__(self, settings: AlipaySettings, *, clock: Callable[[], float] = time.time,
                 memo_size: int = 10_000) -> None:
        if settings.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.settings = settings
        self.merchant_id = settings.seller_id or settings.app_id
        self._clock = clock
        self._client = AliPay(
            appid=settings.app_id,
            app_notify_url=settings.notify_url,
            app_private_key_string=_pem(settings.app_private_key, "PRIVATE KEY"),
            alipay_public_key_string=_pem(settings.alipay_public_key, "PUBLIC KEY"),
            sign_type="RSA2",
            config=AliPayConfig(timeout=settings.timeout_s),
        )
        # The SDK has no constructor argument for the gateway, only debug=True for its sandbox.
        self._client._gateway = settings.gateway
        self._kinds = _Memo(memo_size)  # out_trade_no -> TradeKind
        self._reversed = _Memo(memo_size)  # out_trade_no -> True
        self._refunded = _Memo(memo_size)  # out_trade_no -> refunded fen (Alipay's refund_fee)
        self._refund_trades = _Memo(memo_size)  # out_refund_no -> out_trade_no

    # --- the gateway ------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _call(self, api: AlipayApi, biz: dict[str, Any],
                    out_trade_no: str | None = None) -> tuple[Verdict, Mapping[str, Any]]:
        """One signed request; returns the verified answer for OK / WAITING, raises the rest."""
        # The SDK stamps requests with the host's local time; Alipay expects China time.
        timestamp = format_alipay_time(self._now_ms())
        try:
            answer = await asyncio.to_thread(self._client.server_api, str(api), biz,
                                             timestamp=timestamp)
        except AliPayValidationError as exc:
            raise OutcomeUnknown(f"{api}: the answer's signature did not verify") from exc
        except AliPayException as exc:
            raise OutcomeUnknown(f"{api}: unsigned answer ({exc})") from exc
        except Exception as exc:  # timeouts, refused/dropped connections, HTTP errors, garbage
            raise OutcomeUnknown(f"{api}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict):
            raise OutcomeUnknown(f"{api}: answer is not an object")
        verdict = classify_response(api, answer)
        error = verdict.error()
        if error is not None:
            raise error
        echoed = answer.get("out_trade_no")
        if out_trade_no is not None and echoed not in (None, "", out_trade_no):
            raise OutcomeUnknown(f"{api}: answer for another trade {echoed!r}")
        return verdict.verdict, answer

    # --- paying -----------------------------------------------------------------------------

    @staticmethod
    def _subject(description: str, out_trade_no: str) -> str:
        return (description.strip() or out_trade_no)[:SUBJECT_MAX]

    async def _pay(self, out_trade_no: str, amount_fen: int, description: str,
                   **fields: Any) -> Trade:
        biz = {"out_trade_no": out_trade_no, "total_amount": fen_to_yuan(amount_fen),
               "subject": self._subject(description, out_trade_no), **fields}
        self._kinds.put(out_trade_no, TradeKind.CODE)
        verdict, answer = await self._call(AlipayApi.PAY, biz, out_trade_no)
        state = TradeState.USERPAYING if verdict is Verdict.WAITING else TradeState.SUCCESS
        return Trade(
            out_trade_no=out_trade_no,
            state=state,
            amount_fen=yuan_to_fen_or_none(answer.get("total_amount")) or amount_fen,
            transaction_id=answer.get("trade_no") or None,
            payer=answer.get("buyer_user_id") or answer.get("buyer_open_id") or None,
            success_ms=(alipay_time_or_none(answer.get("gmt_payment"))
                        if state is TradeState.SUCCESS else None),
        )

    async def codepay(self, out_trade_no: str, amount_fen: int, description: str, *,
                      auth_code: str, store_id: str, device_id: str) -> Trade:
        """`alipay.trade.pay`, scene `bar_code`. USERPAYING (code 10003) means the shopper is
        confirming on the phone: query every 3-5 s, give up after ~60 s with `reverse`."""
        return await self._pay(out_trade_no, amount_fen, description, scene="bar_code",
                               auth_code=auth_code, product_code=FACE_TO_FACE,
                               store_id=store_id, terminal_id=device_id)

    async def facepay(self, out_trade_no: str, amount_fen: int, description: str, *,
                      ftoken: str, store_id: str, device_id: str) -> Trade:
        """Alipay's own face pay (刷脸付): `alipay.trade.pay`, scene `security_code`, with the
        `ftoken` an Alipay face device returned. Not part of `PaymentProvider`."""
        return await self._pay(out_trade_no, amount_fen, description, scene="security_code",
                               auth_code=ftoken, product_code=FACE_TO_FACE,
                               store_id=store_id, terminal_id=device_id)

    async def agreement_pay(self, out_trade_no: str, amount_fen: int, description: str, *,
                            contract_id: str) -> Trade:
        """Merchant withholding (商户代扣): `alipay.trade.pay` with product_code
        GENERAL_WITHHOLDING and `agreement_params.agreement_no` = `contract_id`, the agreement
        the shopper signed earlier (alipay.user.agreement.page.sign, not done here). Needs the
        withholding product on the merchant's Alipay contract; without it Alipay answers a
        definite 40004/40006, raised as `ProviderError`."""
        return await self._pay(out_trade_no, amount_fen, description, product_code=WITHHOLDING,
                               agreement_params={"agreement_no": contract_id})

    async def native(self, out_trade_no: str, amount_fen: int, description: str, *,
                     expires_ms: int, attach: str = "") -> NativeOrder:
        """`alipay.trade.precreate`: the QR (`qr_code`) the shopper scans. `time_expire` (China
        time) bounds the trade once scanned and `qr_code_timeout_express` the QR itself.
        `attach` is not sent: precreate has no field that Alipay echoes back."""
        now_ms = self._now_ms()
        minutes = max(1, -(-(expires_ms - now_ms) // 60_000))
        biz = {"out_trade_no": out_trade_no, "total_amount": fen_to_yuan(amount_fen),
               "subject": self._subject(description, out_trade_no),
               "product_code": FACE_TO_FACE,
               "time_expire": format_alipay_time(expires_ms),
               "qr_code_timeout_express": f"{minutes}m"}
        self._kinds.put(out_trade_no, TradeKind.QR)
        _, answer = await self._call(AlipayApi.PRECREATE, biz, out_trade_no)
        qr_code = answer.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code:
            raise OutcomeUnknown("alipay.trade.precreate: success without a qr_code")
        return NativeOrder(out_trade_no=out_trade_no, code_url=qr_code, expires_ms=expires_ms)

    # --- following up -----------------------------------------------------------------------

    async def query(self, out_trade_no: str) -> Trade:
        kind = self._kinds.get(out_trade_no)
        try:
            _, answer = await self._call(AlipayApi.QUERY, {"out_trade_no": out_trade_no},
                                         out_trade_no)
        except TradeNotFound:
            if kind is TradeKind.QR:  # precreated, not scanned yet: Alipay has no trade
                return Trade(out_trade_no=out_trade_no, state=TradeState.NOTPAY)
            raise
        status = answer.get("trade_status")
        state = trade_state(status, kind=kind,
                            refunded_fen=self._refunded.get(out_trade_no) or 0,
                            reversed_=bool(self._reversed.get(out_trade_no)))
        if state is None:
            raise OutcomeUnknown(f"alipay.trade.query: unknown trade_status {status!r}")
        return Trade(
            out_trade_no=out_trade_no,
            state=state,
            amount_fen=yuan_to_fen_or_none(answer.get("total_amount")),
            transaction_id=answer.get("trade_no") or None,
            payer=answer.get("buyer_user_id") or answer.get("buyer_open_id") or None,
            success_ms=alipay_time_or_none(answer.get("send_pay_date")) if state.paid else None,
        )

    async def reverse(self, out_trade_no: str) -> None:
        """`alipay.trade.cancel`: closes an unpaid trade (answer `action` close) or refunds a
        paid one (`action` refund; same day only, China time); no `action` means Alipay had no
        such trade. `retry_flag` Y is `OutcomeUnknown`: call again. Afterwards `query` reports
        the TRADE_CLOSED trade as REVOKED."""
        await self._call(AlipayApi.CANCEL, {"out_trade_no": out_trade_no}, out_trade_no)
        self._reversed.put(out_trade_no, True)

    async def close(self, out_trade_no: str) -> None:
        """`alipay.trade.close`. A precreated QR that nobody scanned does not exist at Alipay
        yet: that raises `TradeNotFound`, and the QR stays payable until its `time_expire`."""
        await self._call(AlipayApi.CLOSE, {"out_trade_no": out_trade_no}, out_trade_no)

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int,
                     total_fen: int, reason: str = "") -> Refund:
        """`alipay.trade.refund` with `out_request_no` = `out_refund_no`: re-sending the same
        refund is idempotent (Alipay answers `fund_change` N and moves no money; we then read
        the refund back). `total_fen` is not needed by Alipay."""
        biz: dict[str, Any] = {"out_trade_no": out_trade_no,
                               "refund_amount": fen_to_yuan(amount_fen),
                               "out_request_no": out_refund_no}
        if reason:
            biz["refund_reason"] = reason[:SUBJECT_MAX]
        self._refund_trades.put(out_refund_no, out_trade_no)
        _, answer = await self._call(AlipayApi.REFUND, biz, out_trade_no)
        refunded = yuan_to_fen_or_none(answer.get("refund_fee"))
        if refunded:
            self._refunded.put(out_trade_no, max(refunded, self._refunded.get(out_trade_no) or 0))
        if answer.get("fund_change") == "N":  # a repeat: say what the first one did
            return await self.query_refund(out_refund_no, out_trade_no=out_trade_no)
        return Refund(out_refund_no=out_refund_no, out_trade_no=out_trade_no,
                      status=RefundStatus.SUCCESS, amount_fen=amount_fen,
                      refund_id=answer.get("trade_no") or None)

    async def query_refund(self, out_refund_no: str, *,
                           out_trade_no: str | None = None) -> Refund:
        """`alipay.trade.fastpay.refund.query`. Alipay needs the trade's out_trade_no as well:
        pass it, or it is taken from the refunds this process made; without either this raises
        `ProviderError("UNSUPPORTED")` (re-sending `refund` with the same out_refund_no is the
        idempotent way to learn a refund's fate then)."""
        out_trade_no = out_trade_no or self._refund_trades.get(out_refund_no)
        if out_trade_no is None:
            raise ProviderError("UNSUPPORTED",
                                "Alipay's refund query needs the out_trade_no of the refund")
        _, answer = await self._call(AlipayApi.REFUND_QUERY,
                                     {"out_trade_no": out_trade_no,
                                      "out_request_no": out_refund_no}, out_trade_no)
        return Refund(out_refund_no=out_refund_no, out_trade_no=out_trade_no,
                      status=refund_status(answer),
                      amount_fen=yuan_to_fen_or_none(answer.get("refund_amount")) or 0,
                      refund_id=answer.get("trade_no") or None)

    # --- notifications ----------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           now_ms: int) -> Notification:
        """Verify a `trade_status_sync` POST body; raises `NotificationRejected` with reason
        `malformed`, `bad_signature`, `wrong_merchant`, `stale` or `unsupported`."""
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=True, max_num_fields=NOTIFY_MAX_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise NotificationRejected("malformed", "not a form-encoded body") from exc
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise NotificationRejected("malformed", "repeated field")
        signature = fields.pop("sign", "")
        if not signature:
            raise NotificationRejected("bad_signature", "no sign")
        try:
            # verify() drops `sign_type` (refusing one other than RSA2) and mutates its input
            valid = self._client.verify(dict(fields), signature)
        except (AliPayException, ValueError, TypeError) as exc:
            raise NotificationRejected("bad_signature", str(exc)) from exc
        if not valid:
            raise NotificationRejected("bad_signature")
        s = self.settings
        return notification_from_fields(
            fields, app_id=s.app_id, seller_id=s.seller_id, now_ms=now_ms,
            max_age_ms=int(s.notify_max_age_s * 1000),
            max_future_ms=int(s.notify_max_future_s * 1000))

    def notification_ack(self, ok: bool) -> NotificationReply:
        """Alipay stops re-sending when the body is exactly `success`."""
        return NotificationReply(status=200, body=b"success" if ok else b"fail",
                                 content_type="text/plain")

    # --- reconciliation ---------------------------------------------------------------------

    async def bill(self, day: dt.date) -> Sequence[BillRow]:
        """Not supported: Alipay's bill is a GBK CSV inside a zip behind a short-lived URL
        (`alipay.data.dataservice.bill.downloadurl.query`), not implemented here. Raises
        `ProviderError("UNSUPPORTED")`; reconciliation falls back to querying each order."""
        raise ProviderError("UNSUPPORTED", f"Alipay bill download is not implemented ({day})")

    async def aclose(self) -> None:
        """Nothing to release: the SDK opens one connection per call."""
