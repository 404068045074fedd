"""A local stand-in for Alipay's openapi gateway (`gateway.do`), enough for the adapter's tests.

It speaks the wire protocol python-alipay-sdk uses: a GET whose query string carries the common
parameters and `biz_content` (JSON), signed RSA2 (SHA256withRSA, PKCS#1 v1.5, base64) over the
sorted `key=value` pairs of every parameter but `sign`, with the app's private key. It verifies
that signature with the app's public key, keeps trades, and answers
`{"<method>_response": {...}, "sign": "..."}` signed over the exact text of the inner object with
the "Alipay" private key. Tests drive the shopper's side (`scan`, `buyer_pays`), script payment
codes (`script_auth_code`), inject faults (`fail_next`) and build signed notifications
(`notification_body`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CHINA = dt.timezone(dt.timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# --- keys ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyPair:
    private_key: rsa.RSAPrivateKey
    private_pem: str  # PKCS#8
    public_pem: str  # SubjectPublicKeyInfo

    @property
    def private_base64(self) -> str:
        """The bare base64 the Alipay console shows (no PEM armour, no line breaks)."""
        return "".join(self.private_pem.strip().splitlines()[1:-1])

    @property
    def public_base64(self) -> str:
        return "".join(self.public_pem.strip().splitlines()[1:-1])


def generate_keypair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return KeyPair(key, private_pem, public_pem)


@functools.cache
def _stranger_keys() -> KeyPair:
    """Not Alipay's: signs the `bad_sign` answers."""
    return generate_keypair()


def rsa2_sign(key: rsa.RSAPrivateKey, text: str) -> str:
    signature = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa2_verify(public_pem: str, text: str, signature: str) -> bool:
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(base64.b64decode(signature, validate=True), text.encode(),
                      padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def signing_string(params: dict[str, str], *, exclude: tuple[str, ...]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude)


def china_time(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(int(epoch_s), CHINA).strftime(TIME_FORMAT)


def fen(yuan: str) -> int:
    whole, _, decimals = yuan.partition(".")
    return int(whole) * 100 + int(decimals.ljust(2, "0"))


def yuan(amount_fen: int) -> str:
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


# --- state ---------------------------------------------------------------------------------------

@dataclass
class GatewayTrade:
    out_trade_no: str
    kind: str  # "code" | "qr"
    total_fen: int
    subject: str
    status: str  # WAIT_BUYER_PAY | TRADE_SUCCESS | TRADE_CLOSED
    trade_no: str
    buyer_id: str = "2088102177846880"
    paid_s: float | None = None
    refunds: dict[str, int] = field(default_factory=dict)  # out_request_no -> fen

    @property
    def refunded_fen(self) -> int:
        return sum(self.refunds.values())


@dataclass(frozen=True)
class Fault:
    """`http500` / `drop`: the request is processed, the answer lost; `delay`: processed and
    answered after `seconds`; `bad_sign` / `unsigned`: processed, answered with a broken or no
    signature; `code`: answered with `code`/`sub_code`, not processed."""

    kind: str
    seconds: float = 0.0
    code: str = ""
    sub_code: str = ""


@dataclass
class SeenRequest:
    method: str
    params: dict[str, str]
    biz: dict[str, Any]


class AlipayGateway:
    """Start with `start()`; `url` is what the adapter's `gateway` setting takes."""

    def __init__(self, *, app_id: str, app_public_pem: str, alipay_keys: KeyPair,
                 seller_id: str = "2088721000000001") -> None:
        self.app_id = app_id
        self.app_public_pem = app_public_pem
        self.alipay_keys = alipay_keys
        self.seller_id = seller_id
        self.trades: dict[str, GatewayTrade] = {}
        self.unscanned: dict[str, dict[str, Any]] = {}  # precreated QRs, not scanned yet
        self.agreements: set[str] = set()
        self.requests: list[SeenRequest] = []
        self._auth_codes: dict[str, str] = {}
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None
        self._url = ""
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> AlipayGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway._handle(self, urlsplit(self.path).query)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                gateway._handle(self, self.rfile.read(length).decode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self._url = f"http://{host}:{port}/gateway.do"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """Where it listens (kept after `stop`, when nothing listens there any more)."""
        return self._url

    # --- scripting ------------------------------------------------------------------------------

    def script_auth_code(self, auth_code: str, behaviour: str) -> None:
        """`pay` (default), `wait` (10003, the shopper confirms on the phone), `insufficient`,
        `invalid`."""
        self._auth_codes[auth_code] = behaviour

    def fail_next(self, fault: Fault) -> None:
        self._faults.append(fault)

    def scan(self, out_trade_no: str) -> None:
        """The shopper scans a precreated QR: Alipay creates the trade (WAIT_BUYER_PAY)."""
        with self._lock:
            pending = self.unscanned.pop(out_trade_no)
            self.trades[out_trade_no] = GatewayTrade(
                out_trade_no, "qr", pending["total_fen"], pending["subject"], "WAIT_BUYER_PAY",
                self._trade_no())

    def buyer_pays(self, out_trade_no: str) -> None:
        """The shopper confirms (QR after a scan, or a payment code that answered 10003)."""
        with self._lock:
            trade = self.trades[out_trade_no]
            assert trade.status == "WAIT_BUYER_PAY", trade.status
            trade.status, trade.paid_s = "TRADE_SUCCESS", time.time()

    def last(self, method: str) -> SeenRequest:
        return [r for r in self.requests if r.method == method][-1]

    # --- notifications --------------------------------------------------------------------------

    def notification_fields(self, out_trade_no: str, *, notify_time_s: float | None = None,
                            **overrides: str) -> dict[str, str]:
        trade = self.trades[out_trade_no]
        notify_s = time.time() if notify_time_s is None else notify_time_s
        fields = {
            "notify_time": china_time(notify_s),
            "notify_type": "trade_status_sync",
            "notify_id": hashlib.sha1(f"{out_trade_no}{notify_s}".encode()).hexdigest(),
            "charset": "utf-8",
            "version": "1.0",
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "trade_no": trade.trade_no,
            "out_trade_no": out_trade_no,
            "buyer_id": trade.buyer_id,
            "seller_id": self.seller_id,
            "trade_status": trade.status,
            "total_amount": yuan(trade.total_fen),
            "receipt_amount": yuan(trade.total_fen),
            "subject": trade.subject,
            "gmt_create": china_time(notify_s - 30),
        }
        if trade.paid_s is not None:
            fields["gmt_payment"] = china_time(trade.paid_s)
        if trade.refunds:
            fields["refund_fee"] = yuan(trade.refunded_fen)
            fields["out_biz_no"] = list(trade.refunds)[-1]
        fields.update(overrides)
        return fields

    def notification_body(self, fields: dict[str, str], *,
                          key: rsa.RSAPrivateKey | None = None) -> bytes:
        """Sign as Alipay does (all fields but `sign` and `sign_type`) and form-encode."""
        signature = rsa2_sign(key or self.alipay_keys.private_key,
                              signing_string(fields, exclude=("sign", "sign_type")))
        return urlencode({**fields, "sign_type": "RSA2", "sign": signature}).encode()

    # --- the gateway ----------------------------------------------------------------------------

    def _trade_no(self) -> str:
        self._seq += 1
        return f"2025{int(time.time()):010d}{self._seq:06d}"

    def _handle(self, http: BaseHTTPRequestHandler, query: str) -> None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        method = params.get("method", "")
        response_key = method.replace(".", "_") + "_response"
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "code":
            inner: dict[str, Any] = {"code": fault.code, "msg": "Injected",
                                     "sub_code": fault.sub_code, "sub_msg": "injected"}
        else:
            with self._lock:
                inner = self._process(method, params)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "http500":
            http.send_response(500)
            http.send_header("Content-Length", "0")
            http.end_headers()
            return
        if fault is not None and fault.kind == "drop":
            http.close_connection = True
            return
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        if fault is not None and fault.kind == "unsigned":
            body = f'{{"{response_key}":{text}}}'
        else:
            key = (_stranger_keys().private_key if fault is not None and fault.kind == "bad_sign"
                   else self.alipay_keys.private_key)
            body = f'{{"{response_key}":{text},"sign":"{rsa2_sign(key, text)}"}}'
        payload = body.encode()
        http.send_response(200)
        http.send_header("Content-Type", "text/html;charset=utf-8")
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)

    @staticmethod
    def _refusal(code: str, msg: str, sub_code: str, sub_msg: str = "") -> dict[str, Any]:
        return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg or sub_code}

    def _failure(self, sub_code: str, sub_msg: str = "") -> dict[str, Any]:
        return self._refusal("40004", "Business Failed", sub_code, sub_msg)

    def _process(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        signature = params.get("sign", "")
        if not rsa2_verify(self.app_public_pem, signing_string(params, exclude=("sign",)),
                           signature):
            return self._refusal("40002", "Invalid Arguments", "isv.invalid-signature")
        if params.get("app_id") != self.app_id:
            return self._refusal("40002", "Invalid Arguments", "isv.invalid-app-id")
        if params.get("sign_type") != "RSA2" or params.get("charset") != "utf-8":
            return self._refusal("40002", "Invalid Arguments", "isv.invalid-signature-type")
        try:
            stamp = dt.datetime.strptime(params.get("timestamp", ""), TIME_FORMAT)
            skew = abs(stamp.replace(tzinfo=CHINA).timestamp() - time.time())
        except ValueError:
            skew = float("inf")
        if skew > 600:
            return self._refusal("40002", "Invalid Arguments", "isv.invalid-timestamp")
        try:
            biz = json.loads(params.get("biz_content", "{}"))
        except ValueError:
            return self._refusal("40002", "Invalid Arguments", "isv.invalid-biz-content")
        self.requests.append(SeenRequest(method, params, biz))
        handler = {
            "alipay.trade.pay": self._pay,
            "alipay.trade.precreate": self._precreate,
            "alipay.trade.query": self._query,
            "alipay.trade.cancel": self._cancel,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
        }.get(method)
        if handler is None:
            return self._refusal("40002", "Invalid Arguments", "isv.invalid-method")
        return handler(biz)

    def _pay(self, biz: dict[str, Any]) -> dict[str, Any]:
        out_trade_no = biz["out_trade_no"]
        if out_trade_no in self.trades:
            if self.trades[out_trade_no].status == "TRADE_SUCCESS":
                return self._failure("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            return self._failure("ACQ.TRADE_STATUS_ERROR")
        if biz.get("product_code") == "GENERAL_WITHHOLDING":
            agreement = (biz.get("agreement_params") or {}).get("agreement_no")
            behaviour = "pay" if agreement in self.agreements else "no_agreement"
        elif biz.get("scene") in ("bar_code", "security_code") and biz.get("auth_code"):
            behaviour = self._auth_codes.get(biz["auth_code"], "pay")
        else:
            return self._refusal("40002", "Invalid Arguments", "isv.missing-auth-code")
        if behaviour == "insufficient":
            return self._failure("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
        if behaviour == "invalid":
            return self._failure("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败")
        if behaviour == "no_agreement":
            return self._failure("ACQ.AGREEMENT_NOT_EXIST", "用户协议不存在")
        trade = GatewayTrade(out_trade_no, "code", fen(biz["total_amount"]), biz["subject"],
                             "WAIT_BUYER_PAY", self._trade_no())
        self.trades[out_trade_no] = trade
        answer = {"out_trade_no": out_trade_no, "trade_no": trade.trade_no,
                  "total_amount": biz["total_amount"], "buyer_user_id": trade.buyer_id,
                  "buyer_logon_id": "159****5620"}
        if behaviour == "wait":
            return {"code": "10003", "msg": " order success pay inprocess", **answer}
        trade.status, trade.paid_s = "TRADE_SUCCESS", time.time()
        return {"code": "10000", "msg": "Success", **answer,
                "receipt_amount": biz["total_amount"], "gmt_payment": china_time(trade.paid_s)}

    def _precreate(self, biz: dict[str, Any]) -> dict[str, Any]:
        out_trade_no = biz["out_trade_no"]
        if out_trade_no in self.trades:
            return self._failure("ACQ.TRADE_HAS_SUCCESS")
        self.unscanned[out_trade_no] = {"total_fen": fen(biz["total_amount"]),
                                        "subject": biz["subject"]}
        token = hashlib.sha1(out_trade_no.encode()).hexdigest()[:24]
        return {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no,
                "qr_code": f"https://qr.alipay.com/bax{token}"}

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        answer = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                  "trade_no": trade.trade_no, "trade_status": trade.status,
                  "total_amount": yuan(trade.total_fen), "buyer_user_id": trade.buyer_id}
        if trade.paid_s is not None:
            answer["send_pay_date"] = china_time(trade.paid_s)
        return answer

    def _cancel(self, biz: dict[str, Any]) -> dict[str, Any]:
        out_trade_no = biz.get("out_trade_no", "")
        trade = self.trades.get(out_trade_no)
        answer = {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no,
                  "retry_flag": "N"}
        if trade is None:
            return answer  # no such trade: success without `action`
        action = "refund" if trade.status == "TRADE_SUCCESS" else "close"
        trade.status = "TRADE_CLOSED"
        return {**answer, "trade_no": trade.trade_no, "action": action}

    def _close(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status == "TRADE_SUCCESS":
            return self._failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                "trade_no": trade.trade_no}

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = biz.get("out_request_no") or trade.out_trade_no
        amount = fen(biz["refund_amount"])
        answer = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                  "trade_no": trade.trade_no, "buyer_user_id": trade.buyer_id}
        if request_no in trade.refunds:
            if trade.refunds[request_no] != amount:
                return self._failure("ACQ.DISCORDANT_REPEAT_REQUEST")
            return {**answer, "fund_change": "N", "refund_fee": yuan(trade.refunded_fen)}
        if trade.status != "TRADE_SUCCESS":
            return self._failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.refunded_fen + amount > trade.total_fen:
            return self._failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        trade.refunds[request_no] = amount
        if trade.refunded_fen == trade.total_fen:
            trade.status = "TRADE_CLOSED"
        return {**answer, "fund_change": "Y", "refund_fee": yuan(trade.refunded_fen),
                "gmt_refund_pay": china_time(time.time())}

    def _refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        answer = {"code": "10000", "msg": "Success"}
        request_no = biz.get("out_request_no", "")
        if request_no not in trade.refunds:
            return answer  # no such refund: success without refund data
        return {**answer, "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                "out_request_no": request_no, "refund_amount": yuan(trade.refunds[request_no]),
                "total_amount": yuan(trade.total_fen), "refund_status": "REFUND_SUCCESS"}
