"""The sandbox's records as WeChat Pay v3 JSON, and v3 notification bodies (pure)."""

from __future__ import annotations

from typing import Any

import orjson

from broker.payments.provider import RefundStatus, TradeState
from broker.payments.sandbox.records import SandboxRefund, SandboxTrade
from broker.payments.wechat_codec import ms_to_rfc3339
from broker.payments.wechat_crypto import encrypt_resource

_EVENT_SUMMARY = {"TRANSACTION.SUCCESS": "支付成功", "REFUND.SUCCESS": "退款成功"}


def trade_json(t: SandboxTrade) -> dict[str, Any]:
    """A v3 transaction, as the query API (and the payment notification) describe it."""
    paid = t.state.paid or (t.state is TradeState.REVOKED and t.success_ms is not None)
    data: dict[str, Any] = {
        "appid": t.appid, "mchid": t.mchid, "out_trade_no": t.out_trade_no,
        "trade_type": str(t.trade_type), "trade_state": str(t.state),
        "trade_state_desc": t.state_desc,
        "amount": {"total": t.amount_fen, "currency": "CNY"},
    }
    if t.attach:
        data["attach"] = t.attach
    if paid or t.state in (TradeState.USERPAYING, TradeState.PAYERROR):
        data["transaction_id"] = t.transaction_id
    if paid and t.payer_id:
        data["bank_type"] = "OTHERS"
        data["payer"] = {"openid": t.payer_id}
        data["amount"].update(payer_total=t.amount_fen, payer_currency="CNY")
    if t.success_ms is not None:
        data["success_time"] = ms_to_rfc3339(t.success_ms)
    if t.contract_id:
        data["contract_id"] = t.contract_id
    if t.store_id or t.device_id:
        data["scene_info"] = {"device_id": t.device_id, "store_info": {"out_id": t.store_id}}
    return data


def refund_json(r: SandboxRefund, *, notification: bool = False) -> dict[str, Any]:
    """A v3 refund; the REFUND.SUCCESS resource names the status `refund_status`."""
    data: dict[str, Any] = {
        "mchid": r.mchid, "refund_id": r.refund_id, "out_refund_no": r.out_refund_no,
        "transaction_id": r.transaction_id, "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
        "create_time": ms_to_rfc3339(r.create_ms),
        "amount": {"total": r.total_fen, "refund": r.amount_fen, "payer_total": r.total_fen,
                   "payer_refund": r.amount_fen, "currency": "CNY"},
    }
    data["refund_status" if notification else "status"] = str(r.status)
    if r.status is RefundStatus.SUCCESS and r.success_ms is not None:
        data["success_time"] = ms_to_rfc3339(r.success_ms)
    return data


def notification_body(notification_id: str, event_type: str, resource: dict[str, Any],
                      apiv3_key: str, create_ms: int) -> dict[str, Any]:
    """A v3 notification with the resource encrypted under the merchant's APIv3 key."""
    original_type = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    sealed = encrypt_resource(apiv3_key, orjson.dumps(resource).decode(),
                              associated_data=original_type, original_type=original_type)
    return {"id": notification_id, "create_time": ms_to_rfc3339(create_ms),
            "resource_type": "encrypt-resource", "event_type": event_type,
            "summary": _EVENT_SUMMARY.get(event_type, event_type), "resource": sealed}
