"""The sandbox's WeChat Pay v3 endpoints (paths exactly as WeChat's).

| endpoint | fault name | answer |
|---|---|---|
| POST /v3/pay/transactions/native | native | 200 `{"code_url"}` |
| POST /v3/pay/transactions/codepay | codepay | 200 transaction / 202 USERPAYING / 4xx refusal |
| POST /v3/papay/pay/transactions/apply | agreement | 200 transaction (SUCCESS) / 4xx refusal |
| GET /v3/pay/transactions/out-trade-no/{no}?mchid= | query | 200 transaction |
| POST /v3/pay/transactions/out-trade-no/{no}/reverse | reverse | 204 |
| POST /v3/pay/transactions/out-trade-no/{no}/close | close | 204 |
| POST /v3/refund/domestic/refunds | refund | 200 refund |
| GET /v3/refund/domestic/refunds/{no} | query_refund | 200 refund |
| GET /v3/bill/tradebill?bill_date= | bill | 200 `{"hash_type", "hash_value", "download_url"}` |
| GET /v3/billdownload/file?token= | bill | the bill (gzip when `tar_type=GZIP`) |

The agreement charge is this sandbox's own shape, modelled on WeChat's entrusted-payment
(papay) charge: `{"appid", "mchid", "description", "out_trade_no", "contract_id",
"notify_url", "amount": {"total", "currency"}, "attach"?}`; it answers synchronously with the
transaction (and notifies TRANSACTION.SUCCESS like a native payment); agreement trades are
queried and reversed through the ordinary transaction paths.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import secrets
from typing import Any

from starlette.routing import Route

from broker.payments.provider import TradeState
from broker.payments.sandbox import wire
from broker.payments.sandbox.app import Sandbox, V3Call, V3Result, error_body, v3_route
from broker.payments.sandbox.bill import render_trade_bill
from broker.payments.sandbox.records import BookError
from broker.payments.wechat_codec import rfc3339_to_ms

PAY = "/v3/pay/transactions"


def _amount(call: V3Call, *path: str) -> int:
    value = call.field(*path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BookError("PARAM_ERROR", f"{'.'.join(path)} must be an integer (fen)")
    return value


def _own(call: V3Call, mchid: Any) -> None:
    if mchid != call.mchid:
        raise BookError("PARAM_ERROR", "mchid does not match the request signer")


def _paid_or_refused(call: V3Call, trade: Any) -> V3Result:
    if trade.state is TradeState.USERPAYING:
        return 202, error_body("USERPAYING", "需要用户输入支付密码")
    if trade.state is TradeState.PAYERROR:
        e = BookError(trade.error_code or "TRADE_ERROR", trade.state_desc)
        return e.status, error_body(e.code, e.message)
    if not trade.state.paid:  # a repeat of a request whose order was reversed or closed
        code = "ORDERREVERSED" if trade.state is TradeState.REVOKED else "ORDER_CLOSED"
        return 400, error_body(code, f"order is {trade.state}")
    return 200, wire.trade_json(trade)


async def native(sb: Sandbox, call: V3Call) -> V3Result:
    _own(call, call.field("mchid"))
    expire = call.data.get("time_expire")
    trade = sb.book.native(
        call.mchid, call.field("appid"), call.field("out_trade_no"),
        _amount(call, "amount", "total"), call.field("description"), call.now_ms,
        notify_url=call.field("notify_url"), attach=call.data.get("attach") or "",
        expire_ms=rfc3339_to_ms(expire) if expire else None)
    if trade.state is not TradeState.NOTPAY:
        raise BookError("ORDERPAID" if trade.state.paid else "ORDER_CLOSED", str(trade.state))
    return 200, {"code_url": trade.code_url}


async def codepay(sb: Sandbox, call: V3Call) -> V3Result:
    _own(call, call.field("mchid"))
    scene = call.data.get("scene_info") or {}
    store = scene.get("store_info") or {} if isinstance(scene, dict) else {}
    trade = sb.book.codepay(
        call.mchid, call.field("appid"), call.field("out_trade_no"),
        _amount(call, "amount", "total"), call.field("description"), call.now_ms,
        auth_code=str(call.field("payer", "auth_code")),
        store_id=str(store.get("out_id", "")) if isinstance(store, dict) else "",
        device_id=str(scene.get("device_id", "")) if isinstance(scene, dict) else "",
        attach=call.data.get("attach") or "", refuse=call.refuse)
    return _paid_or_refused(call, trade)


async def agreement(sb: Sandbox, call: V3Call) -> V3Result:
    _own(call, call.field("mchid"))
    trade = sb.book.agreement_charge(
        call.mchid, call.field("appid"), call.field("out_trade_no"),
        _amount(call, "amount", "total"), call.field("description"), call.now_ms,
        contract_id=str(call.field("contract_id")), notify_url=call.field("notify_url"),
        attach=call.data.get("attach") or "", refuse=call.refuse)
    return _paid_or_refused(call, trade)


def _no(call: V3Call) -> str:
    return str(call.request.path_params["no"])


async def query(sb: Sandbox, call: V3Call) -> V3Result:
    _own(call, call.request.query_params.get("mchid"))
    return 200, wire.trade_json(sb.book.query(call.mchid, _no(call), call.now_ms))


async def reverse(sb: Sandbox, call: V3Call) -> V3Result:
    _own(call, call.field("mchid"))
    sb.book.reverse(call.mchid, _no(call), call.now_ms)
    return 204, None


async def close(sb: Sandbox, call: V3Call) -> V3Result:
    _own(call, call.field("mchid"))
    sb.book.close(call.mchid, _no(call), call.now_ms)
    return 204, None


async def refund(sb: Sandbox, call: V3Call) -> V3Result:
    out_trade_no = call.data.get("out_trade_no")
    if not out_trade_no:
        tid = call.field("transaction_id")
        out_trade_no = next((t.out_trade_no for t in sb.book.trades.values()
                             if t.mchid == call.mchid and t.transaction_id == tid), None)
        if out_trade_no is None:
            raise BookError("ORDER_NOT_EXIST", "订单不存在")
    r = sb.book.refund(call.mchid, str(out_trade_no), str(call.field("out_refund_no")),
                       _amount(call, "amount", "refund"), _amount(call, "amount", "total"),
                       call.now_ms, reason=call.data.get("reason") or "",
                       notify_url=call.data.get("notify_url") or None)
    return 200, wire.refund_json(r)


async def query_refund(sb: Sandbox, call: V3Call) -> V3Result:
    return 200, wire.refund_json(sb.book.query_refund(call.mchid, _no(call), call.now_ms))


async def trade_bill(sb: Sandbox, call: V3Call) -> V3Result:
    params = call.request.query_params
    try:
        day = dt.date.fromisoformat(params.get("bill_date", ""))
    except ValueError:
        raise BookError("PARAM_ERROR", "bill_date must be YYYY-MM-DD") from None
    text, rows = render_trade_bill(sb.book.trades.values(), sb.book.refunds.values(),
                                   call.mchid, day)
    if rows == 0:
        raise BookError("NO_STATEMENT_EXIST", "账单文件不存在")
    raw = text.encode()
    token = secrets.token_urlsafe(16)
    sb.bills[token] = (call.mchid, raw, params.get("tar_type") == "GZIP")
    base = str(call.request.base_url).rstrip("/")
    return 200, {"hash_type": "SHA1", "hash_value": hashlib.sha1(raw).hexdigest(),
                 "download_url": f"{base}/v3/billdownload/file?token={token}"}


async def bill_file(sb: Sandbox, call: V3Call) -> V3Result:
    entry = sb.bills.get(call.request.query_params.get("token", ""))
    if entry is None or entry[0] != call.mchid:
        raise BookError("RESOURCE_NOT_EXISTS", "no such bill")
    _, raw, zipped = entry
    return 200, gzip.compress(raw, mtime=0) if zipped else raw


def routes(sb: Sandbox) -> list[Route]:
    return [
        v3_route(sb, f"{PAY}/native", ["POST"], "native", native),
        v3_route(sb, f"{PAY}/codepay", ["POST"], "codepay", codepay),
        v3_route(sb, "/v3/papay/pay/transactions/apply", ["POST"], "agreement", agreement),
        v3_route(sb, f"{PAY}/out-trade-no/{{no}}", ["GET"], "query", query),
        v3_route(sb, f"{PAY}/out-trade-no/{{no}}/reverse", ["POST"], "reverse", reverse),
        v3_route(sb, f"{PAY}/out-trade-no/{{no}}/close", ["POST"], "close", close),
        v3_route(sb, "/v3/refund/domestic/refunds", ["POST"], "refund", refund),
        v3_route(sb, "/v3/refund/domestic/refunds/{no}", ["GET"], "query_refund", query_refund),
        v3_route(sb, "/v3/bill/tradebill", ["GET"], "bill", trade_bill),
        v3_route(sb, "/v3/billdownload/file", ["GET"], "bill", bill_file),
    ]
