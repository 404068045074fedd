"""The daily trade bill in WeChat's CSV layout (pure).

One row per money movement on the day (China time): a payment (`SUCCESS`), a refund that
completed (`REFUND`), a paid order given back by reverse (`REVOKED`). Every field starts with a
backquote, amounts are yuan with two decimals, and a summary block follows the rows, as in the
bills WeChat serves (`bill_type=ALL`). The fee is 0.6% of each payment, as a demo figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from broker.payments.provider import TradeState
from broker.payments.sandbox.records import SandboxRefund, SandboxTrade
from broker.payments.wechat_codec import CHINA_TZ, china_day

HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
          "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
          "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
          "费率备注")
SUMMARY_HEADER = ("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,"
                  "申请退款总金额")
FEE_RATE_PPM = 6000  # 0.60%


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _line(fields: Iterable[str]) -> str:
    return ",".join("`" + f.replace(",", " ").replace("\n", " ") for f in fields)


def _row(t: SandboxTrade, when_ms: int, state: str, *, refund_id: str = "0",
         out_refund_no: str = "0", refund_fen: int = 0, refund_state: str = "",
         fee_fen: int = 0) -> list[str]:
    refunding = state != "SUCCESS"
    return [_when(when_ms), t.appid, t.mchid, "0", t.device_id, t.transaction_id,
            t.out_trade_no, t.payer_id or "", str(t.trade_type), state, "OTHERS", "CNY",
            yuan(0 if refunding else t.amount_fen), "0.00", refund_id, out_refund_no,
            yuan(refund_fen), "0.00", "ORIGINAL" if refunding else "", refund_state,
            t.description, t.attach, yuan(fee_fen), "0.60%", yuan(t.amount_fen),
            yuan(refund_fen), ""]


def render_trade_bill(trades: Iterable[SandboxTrade], refunds: Iterable[SandboxRefund],
                      mchid: str, day: dt.date) -> tuple[str, int]:
    """The bill text and its number of rows (0: WeChat answers NO_STATEMENT_EXIST)."""
    by_no = {t.out_trade_no: t for t in trades if t.mchid == mchid}
    rows: list[tuple[int, list[str]]] = []
    paid_fen = refund_fen = fee_total = 0
    for t in by_no.values():
        if t.success_ms is not None and china_day(t.success_ms) == day:
            fee = (t.amount_fen * FEE_RATE_PPM + 500_000) // 1_000_000
            rows.append((t.success_ms, _row(t, t.success_ms, "SUCCESS", fee_fen=fee)))
            paid_fen += t.amount_fen
            fee_total += fee
        revoked_paid = t.state is TradeState.REVOKED and t.success_ms is not None
        if revoked_paid and t.end_ms is not None and china_day(t.end_ms) == day:
            rows.append((t.end_ms, _row(t, t.end_ms, "REVOKED", refund_fen=t.returned_fen,
                                        refund_state="SUCCESS")))
            refund_fen += t.returned_fen
    for r in refunds:
        if r.mchid != mchid or r.success_ms is None or china_day(r.success_ms) != day:
            continue
        t = by_no[r.out_trade_no]
        rows.append((r.success_ms, _row(t, r.success_ms, "REFUND", refund_id=r.refund_id,
                                        out_refund_no=r.out_refund_no, refund_fen=r.amount_fen,
                                        refund_state="SUCCESS")))
        refund_fen += r.amount_fen
    rows.sort(key=lambda item: item[0])
    lines = [HEADER, *(_line(row) for _, row in rows), SUMMARY_HEADER,
             _line([str(len(rows)), yuan(paid_fen), yuan(refund_fen), "0.00", yuan(fee_total),
                    yuan(paid_fen), yuan(refund_fen)])]
    return "\r\n".join(lines) + "\r\n", len(rows)
