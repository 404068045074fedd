"""Parse WeChat Pay's daily trade bill (CSV, `bill_type=ALL`) into `BillRow`s (pure).

The bill has a header line, one line per money movement (every field prefixed with a
backquote, amounts in yuan), then a summary block that starts with `总交易单数`. Rows of the
same `out_trade_no` (the payment, its refunds, a reverse) fold into one `BillRow`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from broker.payments.provider import BillRow, TradeState

COL_TRANSACTION_ID = "微信订单号"
COL_OUT_TRADE_NO = "商户订单号"
COL_STATE = "交易状态"
COL_ORDER_AMOUNT = "订单金额"
COL_REFUND_AMOUNT = "退款金额"
SUMMARY_MARK = "总交易单数"


class BillFormatError(ValueError):
    pass


def yuan_to_fen(text: str) -> int:
    try:
        value = Decimal(text.strip() or "0") * 100
    except InvalidOperation as e:
        raise BillFormatError(f"not an amount: {text!r}") from e
    if value != value.to_integral_value():
        raise BillFormatError(f"amount with more than two decimals: {text!r}")
    return int(value)


def parse_trade_bill(text: str) -> list[BillRow]:
    try:
        return _parse(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as e:
        raise BillFormatError(f"not a CSV bill: {e}") from e


def _parse(reader: Iterator[list[str]]) -> list[BillRow]:
    header = next(reader, None)
    if not header:
        return []
    index = {name.strip(): i for i, name in enumerate(header)}
    needed = (COL_TRANSACTION_ID, COL_OUT_TRADE_NO, COL_STATE, COL_ORDER_AMOUNT,
              COL_REFUND_AMOUNT)
    missing = [c for c in needed if c not in index]
    if missing:
        raise BillFormatError(f"bill header lacks {missing}")
    folded: dict[str, BillRow] = {}
    for raw in reader:
        if not raw or not "".join(raw).strip():
            continue
        fields = [f.strip().removeprefix("`") for f in raw]
        if fields[0] == SUMMARY_MARK:
            break
        if len(fields) < len(header):
            raise BillFormatError(f"short bill line: {raw!r}")
        no = fields[index[COL_OUT_TRADE_NO]]
        state = fields[index[COL_STATE]]
        amount = yuan_to_fen(fields[index[COL_ORDER_AMOUNT]])
        refunded = yuan_to_fen(fields[index[COL_REFUND_AMOUNT]])
        prev = folded.get(no)
        folded[no] = BillRow(
            out_trade_no=no,
            transaction_id=fields[index[COL_TRANSACTION_ID]],
            state=_fold_state(prev.state if prev else None, state),
            amount_fen=amount,
            refunded_fen=(prev.refunded_fen if prev else 0) + (refunded if state != "SUCCESS"
                                                                 else 0),
        )
    return list(folded.values())


def _fold_state(prev: TradeState | None, row_state: str) -> TradeState:
    try:
        state = TradeState(row_state)
    except ValueError as e:
        raise BillFormatError(f"unknown trade state {row_state!r}") from e
    rank = {TradeState.SUCCESS: 0, TradeState.REFUND: 1, TradeState.REVOKED: 2}
    if prev is None or rank.get(state, 0) >= rank.get(prev, 0):
        return state
    return prev
