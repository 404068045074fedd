"""WeChat Pay v3 JSON ↔ the provider types, and v3 time stamps (pure, no I/O).

v3 times are RFC 3339 in China time (`2024-05-01T10:34:56+08:00`); ours are UTC epoch ms.
Both the adapter (decoding) and the sandbox (encoding) use these, so they agree by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from broker.payments.provider import Refund, RefundStatus, Trade, TradeState

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def ms_to_rfc3339(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms // 1000, CHINA_TZ).isoformat()


def rfc3339_to_ms(text: str) -> int:
    """Parse a v3 time; raises ValueError for text without an explicit offset."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    return int(value.timestamp() * 1000)


def china_day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, CHINA_TZ).date()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return rfc3339_to_ms(value)
    except ValueError:
        return None


def trade_from_json(data: Mapping[str, Any]) -> Trade:
    """A v3 transaction (query response, codepay/agreement response, decrypted notification).
    Raises ValueError when the essentials are missing or the state is not a v3 state."""
    out_trade_no = _str(data.get("out_trade_no"))
    state_text = data.get("trade_state")
    if out_trade_no is None or not isinstance(state_text, str):
        raise ValueError("transaction without out_trade_no or trade_state")
    state = TradeState(state_text)
    amount = data.get("amount")
    payer = data.get("payer")
    return Trade(
        out_trade_no=out_trade_no,
        state=state,
        amount_fen=_int(amount.get("total")) if isinstance(amount, Mapping) else None,
        transaction_id=_str(data.get("transaction_id")),
        payer=_str(payer.get("openid")) if isinstance(payer, Mapping) else None,
        success_ms=_time(data.get("success_time")),
        state_desc=data.get("trade_state_desc") or "",
    )


def refund_from_json(data: Mapping[str, Any]) -> Refund:
    """A v3 refund (apply/query response: `status`; notification resource: `refund_status`)."""
    out_refund_no = _str(data.get("out_refund_no"))
    out_trade_no = _str(data.get("out_trade_no"))
    status_text = data.get("status") or data.get("refund_status")
    amount = data.get("amount")
    refund_fen = _int(amount.get("refund")) if isinstance(amount, Mapping) else None
    if out_refund_no is None or out_trade_no is None or not isinstance(status_text, str) \
            or refund_fen is None:
        raise ValueError("refund without out_refund_no, out_trade_no, status or amount")
    return Refund(out_refund_no=out_refund_no, out_trade_no=out_trade_no,
                  status=RefundStatus(status_text), amount_fen=refund_fen,
                  refund_id=_str(data.get("refund_id")))
