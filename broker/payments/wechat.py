"""`PaymentProvider` for WeChat Pay API v3 on the maintained `wechatpayv3` SDK (asyncio client).

Public key mode: WeChat's platform public key and its id (`PUB_KEY_ID_…`) are configured, so
the SDK verifies responses without downloading platform certificates. The SDK's gateway
(`core._gate_way`) is the configured base URL: the sandbox is reached the same way as WeChat.

Outcomes: a 2xx is the answer; a 4xx with a code is a definite `ProviderError` (`TradeNotFound`
for ORDER_NOT_EXIST); everything else (5xx, SYSTEM_ERROR, BANKERROR, a timeout, a connection
error, a response whose signature does not verify) is `OutcomeUnknown`. Nothing is retried.
One httpx client is kept for the provider's lifetime (`start()` / `aclose()`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from wechatpayv3.async_ import AsyncWeChatPay
from wechatpayv3.async_.type import RequestType, WeChatPayType  # not wechatpayv3.type's enums

from broker.payments.http_pool import ShardedTransport
from broker.payments.provider import (
    BillRow,
    NativeOrder,
    Notification,
    NotificationRejected,
    NotificationReply,
    OutcomeUnknown,
    ProviderError,
    Refund,
    Trade,
    TradeNotFound,
    TradeState,
)
from broker.payments.wechat_bill import BillFormatError, parse_trade_bill
from broker.payments.wechat_codec import (
    ms_to_rfc3339,
    refund_from_json,
    rfc3339_to_ms,
    trade_from_json,
)

PRODUCTION_BASE_URL = "https://api.mch.weixin.qq.com"
AGREEMENT_PATH = "/v3/papay/pay/transactions/apply"
NOTIFICATION_MAX_SKEW_S = 300
NOT_FOUND_CODES = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST"})
UNKNOWN_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "BANKERROR", "BANK_ERROR"})
T = TypeVar("T")
_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial",
            "Wechatpay-Signature-Type")


@dataclass(frozen=True, slots=True)
class WechatPaySettings:
    mchid: str
    appid: str
    merchant_private_key: str  # PEM (apiclient_key.pem)
    cert_serial_no: str  # the merchant API certificate's serial number
    apiv3_key: str
    platform_public_key: str  # PEM: WeChat Pay's public key (public key mode)
    public_key_id: str  # PUB_KEY_ID_…
    notify_url: str
    base_url: str = PRODUCTION_BASE_URL
    timeout_s: float = 10.0  # read timeout: past it the outcome is unknown
    connect_timeout_s: float = 5.0
    pool_shards: int = 16  # connection pools (see http_pool): up to shards × per shard
    connections_per_shard: int = 8
    name: str = "wechat"


class WechatPayProvider:
    def __init__(self, settings: WechatPaySettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.merchant_id = settings.mchid
        self._pay = AsyncWeChatPay(
            wechatpay_type=WeChatPayType.NATIVE, mchid=settings.mchid,
            private_key=settings.merchant_private_key, cert_serial_no=settings.cert_serial_no,
            appid=settings.appid, apiv3_key=settings.apiv3_key, notify_url=settings.notify_url,
            public_key=settings.platform_public_key, public_key_id=settings.public_key_id,
            timeout=(settings.connect_timeout_s, settings.timeout_s))
        self._core = self._pay._core
        self._core._gate_way = settings.base_url.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the provider's one HTTP client (the SDK would otherwise open its own)."""
        if self._client is None:
            s = self.settings
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
                transport=ShardedTransport(s.pool_shards, s.connections_per_shard))
            self._core._client = self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = self._core._client = None

    def set_notify_url(self, url: str) -> None:
        """Where WeChat posts the notifications of orders created from now on."""
        self.settings = dataclasses.replace(self.settings, notify_url=url)
        self._pay._notify_url = url

    async def __aenter__(self) -> WechatPayProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- calls ---------------------------------------------------------------------------

    async def _call(self, what: str, call: Awaitable[tuple[int, Any]], *,
                    raw: bool = False) -> tuple[int, Any]:
        """Await one SDK request: (2xx status, its JSON object, or its bytes when `raw`)."""
        if self._client is None:
            await self.start()
        try:
            status, body = await call
        except httpx.TimeoutException as e:
            raise OutcomeUnknown(f"{what}: no answer in time ({type(e).__name__})") from e
        except httpx.HTTPError as e:
            raise OutcomeUnknown(f"{what}: {type(e).__name__}: {e}") from e
        except Exception as e:  # the SDK raises bare Exception on a response it cannot verify
            raise OutcomeUnknown(f"{what}: {e}") from e
        ok = 200 <= status < 300
        if raw and ok:
            return status, body if isinstance(body, bytes) else str(body).encode()
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            data = None
        if ok:
            if not isinstance(data, dict):
                raise OutcomeUnknown(f"{what}: HTTP {status} with a body that is not JSON")
            return status, data
        code = data.get("code") if isinstance(data, dict) else None
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        if status >= 500 or not isinstance(code, str) or not code or code in UNKNOWN_CODES:
            raise OutcomeUnknown(f"{what}: HTTP {status} {code or ''} {message}".rstrip())
        if code in NOT_FOUND_CODES:
            raise TradeNotFound(code, message, http_status=status)
        raise ProviderError(code, message, http_status=status)

    @staticmethod
    def _decode(what: str, parse: Callable[[Mapping[str, Any]], T], data: Mapping[str, Any]) -> T:
        try:
            return parse(data)
        except ValueError as e:
            raise OutcomeUnknown(f"{what}: unexpected answer: {e}") from e

    @staticmethod
    def _check(out_trade_no: str, amount_fen: int, description: str) -> None:
        """Refuse here what the SDK would refuse before sending (definite: nothing was sent)."""
        if not out_trade_no or not description or amount_fen <= 0:
            raise ProviderError("PARAM_ERROR", "out_trade_no, description and a positive "
                                "amount are required")

    async def native(self, out_trade_no: str, amount_fen: int, description: str, *,
                     expires_ms: int, attach: str = "") -> NativeOrder:
        self._check(out_trade_no, amount_fen, description)
        _, data = await self._call("native", self._pay.pay(
            description=description, out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"},
            time_expire=ms_to_rfc3339(expires_ms), attach=attach or None,
            pay_type=WeChatPayType.NATIVE))
        code_url = data.get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise OutcomeUnknown("native: answer without code_url")
        return NativeOrder(out_trade_no, code_url, expires_ms)

    async def codepay(self, out_trade_no: str, amount_fen: int, description: str, *,
                      auth_code: str, store_id: str, device_id: str) -> Trade:
        self._check(out_trade_no, amount_fen, description)
        status, data = await self._call("codepay", self._pay.pay(
            description=description, out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"}, payer={"auth_code": auth_code},
            scene_info={"device_id": device_id, "store_info": {"out_id": store_id}},
            pay_type=WeChatPayType.CODEPAY))
        if status == 202 or data.get("code") == "USERPAYING":
            return Trade(out_trade_no, TradeState.USERPAYING, amount_fen,
                         state_desc=str(data.get("message", "")))
        return self._decode("codepay", trade_from_json, data)

    async def agreement_pay(self, out_trade_no: str, amount_fen: int, description: str, *,
                            contract_id: str) -> Trade:
        self._check(out_trade_no, amount_fen, description)
        body = {"appid": self.settings.appid, "mchid": self.merchant_id,
                "description": description, "out_trade_no": out_trade_no,
                "contract_id": contract_id, "notify_url": self.settings.notify_url,
                "amount": {"total": amount_fen, "currency": "CNY"}}
        _, data = await self._call("agreement_pay", self._core.request(
            AGREEMENT_PATH, method=RequestType.POST, data=body))
        return self._decode("agreement_pay", trade_from_json, data)

    async def query(self, out_trade_no: str) -> Trade:
        _, data = await self._call("query", self._pay.query(out_trade_no=out_trade_no))
        return self._decode("query", trade_from_json, data)

    async def reverse(self, out_trade_no: str) -> None:
        await self._call("reverse", self._pay.codepay_reverse(out_trade_no))

    async def close(self, out_trade_no: str) -> None:
        await self._call("close", self._pay.close(out_trade_no))

    async def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int,
                     total_fen: int, reason: str = "") -> Refund:
        _, data = await self._call("refund", self._pay.refund(
            out_refund_no=out_refund_no, out_trade_no=out_trade_no, reason=reason or None,
            amount={"refund": amount_fen, "total": total_fen, "currency": "CNY"}))
        return self._decode("refund", refund_from_json, data)

    async def query_refund(self, out_refund_no: str) -> Refund:
        _, data = await self._call("query_refund", self._pay.query_refund(out_refund_no))
        return self._decode("query_refund", refund_from_json, data)

    async def bill(self, day: dt.date) -> Sequence[BillRow]:
        try:
            _, data = await self._call("bill", self._pay.trade_bill(
                bill_date=day.isoformat(), tar_type="GZIP"))
        except ProviderError as e:
            if e.code == "NO_STATEMENT_EXIST":
                return []
            raise
        url = data.get("download_url")
        if not isinstance(url, str) or not url:
            raise OutcomeUnknown("bill: answer without download_url")
        _, content = await self._call("bill download", self._pay.download_bill(url), raw=True)
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        expected = data.get("hash_value")
        if data.get("hash_type") == "SHA1" and hashlib.sha1(content).hexdigest() != expected:
            raise OutcomeUnknown("bill: the file does not match its hash")
        try:
            return parse_trade_bill(content.decode("utf-8"))
        except (BillFormatError, UnicodeDecodeError) as e:
            raise OutcomeUnknown(f"bill: unreadable bill: {e}") from e

    # -- notifications -------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes,
                           now_ms: int) -> Notification:
        lower = {k.lower(): v for k, v in headers.items()}
        canonical = {name: lower.get(name.lower(), "") for name in _HEADERS}
        ts = canonical["Wechatpay-Timestamp"]
        if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):
            raise NotificationRejected("malformed", "no Wechatpay-Timestamp")
        if abs(now_ms // 1000 - int(ts)) > NOTIFICATION_MAX_SKEW_S:
            raise NotificationRejected("stale", f"signed at {ts}, now {now_ms // 1000}")
        try:
            text = body.decode("utf-8")
            data = self._pay.callback(canonical, text)
        except Exception as e:  # the SDK raises bare Exception on unsupported algorithms
            raise NotificationRejected("malformed", str(e)) from e
        if data is None:
            if not self._core._verify_signature(canonical, text):
                raise NotificationRejected("bad_signature")
            raise NotificationRejected("undecryptable", "the resource does not decrypt")
        resource = data.get("resource")
        if not isinstance(resource, dict) or not isinstance(data.get("id"), str):
            raise NotificationRejected("malformed", "no id or resource")
        if resource.get("mchid") != self.merchant_id:
            raise NotificationRejected("wrong_merchant", f"mchid {resource.get('mchid')!r}")
        event_type = str(data.get("event_type", ""))
        try:
            create_ms = rfc3339_to_ms(data["create_time"]) if data.get("create_time") else None
            if event_type.startswith("TRANSACTION."):
                return Notification(data["id"], "transaction", trade=trade_from_json(resource),
                                    create_ms=create_ms)
            if event_type.startswith("REFUND."):
                return Notification(data["id"], "refund", refund=refund_from_json(resource),
                                    create_ms=create_ms)
        except (ValueError, TypeError) as e:
            raise NotificationRejected("malformed", str(e)) from e
        raise NotificationRejected("unsupported_event", event_type)

    def notification_ack(self, ok: bool, message: str = "失败") -> NotificationReply:
        if ok:
            return NotificationReply(204, b"")
        return NotificationReply(500, orjson.dumps({"code": "FAIL", "message": message}))


def sandbox_provider(sandbox_keys: Any, base_url: str, notify_url: str, *,
                     mchid: str | None = None, timeout_s: float = 10.0) -> WechatPayProvider:
    """The adapter configured for the local sandbox (`broker.payments.sandbox.keys.SandboxKeys`);
    `mchid` picks one of its merchants (default: the first)."""
    m = sandbox_keys.merchant(mchid) if mchid else sandbox_keys.primary
    if m is None:
        raise ValueError(f"the sandbox keys have no merchant {mchid}")
    return WechatPayProvider(WechatPaySettings(
        mchid=m.mchid, appid=m.appid, merchant_private_key=m.private_key,
        cert_serial_no=m.serial_no, apiv3_key=m.apiv3_key,
        platform_public_key=sandbox_keys.platform_public_key,
        public_key_id=sandbox_keys.public_key_id, notify_url=notify_url, base_url=base_url,
        timeout_s=timeout_s, name="sandbox"))
