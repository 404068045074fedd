"""The WeChat trade bill: the adapter's parser reads WeChat's layout, folds a trade's rows into
one `BillRow`, reads back what the sandbox renders, and refuses garbage with BillFormatError."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.payments.provider import TradeState
from broker.payments.sandbox.bill import render_trade_bill
from broker.payments.sandbox.book import Book
from broker.payments.wechat_bill import BillFormatError, parse_trade_bill, yuan_to_fen

SAMPLE = "\n".join([
    '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,'
    '代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款'
    '金额,费率备注',
    '`2024-05-01 10:00:01,`wx1,`1900000109,`0,`t-1,`4200000001,`o-1,`oUser,'
    '`NATIVE,`SUCCESS,`OTHERS,`CNY,`13.00,`0.00,`0,`0,`0.00,`0.00,`,`,`Milk'
    ',`,`0.08,`0.60%,`13.00,`0.00,`',
    '`2024-05-01 11:00:00,`wx1,`1900000109,`0,`t-1,`4200000001,`o-1,`oUser,'
    '`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`5030001,`r-1,`3.50,`0.00,`OR'
    'IGINAL,`SUCCESS,`Milk,`,`0.00,`0.60%,`13.00,`3.50,`',
    '`2024-05-01 12:00:00,`wx1,`1900000109,`0,`t-2,`4200000002,`o-2,`oUser,'
    '`MICROPAY,`SUCCESS,`OTHERS,`CNY,`0.05,`0.00,`0,`0,`0.00,`0.00,`,`,`Gum'
    ',`,`0.00,`0.60%,`0.05,`0.00,`',
    '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额',
    '`3,`13.05,`3.50,`0.00,`0.08,`13.05,`3.50',
]) + "\n"


def test_a_wechat_bill_folds_into_one_row_per_order() -> None:
    rows = {r.out_trade_no: r for r in parse_trade_bill("\ufeff" + SAMPLE)}
    assert set(rows) == {"o-1", "o-2"}
    assert (rows["o-1"].state, rows["o-1"].amount_fen, rows["o-1"].refunded_fen,
            rows["o-1"].transaction_id) == (TradeState.REFUND, 1300, 350, "4200000001")
    assert (rows["o-2"].state, rows["o-2"].amount_fen, rows["o-2"].refunded_fen) == \
        (TradeState.SUCCESS, 5, 0)


def test_amounts_are_exact_and_bad_ones_refused() -> None:
    assert [yuan_to_fen(v) for v in ("0.01", "12.30", "100", "")] == [1, 1230, 10000, 0]
    for bad in ("1.234", "abc", "1,00"):
        with pytest.raises(BillFormatError):
            yuan_to_fen(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_garbage_is_refused_with_bill_format_error_only(text: str) -> None:
    with contextlib.suppress(BillFormatError):
        parse_trade_bill(text)
    with contextlib.suppress(BillFormatError):  # a real header followed by garbage
        parse_trade_bill(SAMPLE.splitlines()[0] + "\n" + text)


T0 = int(dt.datetime(2024, 5, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
         * 1000)
order = st.tuples(st.integers(1, 100_000), st.lists(st.integers(1, 30_000), max_size=3),
                  st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(order, min_size=1, max_size=8))
def test_the_sandbox_bill_reads_back_as_the_book_says(orders: list) -> None:
    book = Book(refund_delay_ms=0)
    book.wallets.add_merchant("m", "wx", "M")
    expected = {}
    for i, (fen, refunds, reverse) in enumerate(orders):
        no, at = f"o-{i}", T0 + i * 60_000
        book.codepay("m", "wx", no, fen, "Goods, 2 pcs", at, auth_code=f"13{i:014d}00")
        refunded = 0
        for j, r in enumerate(refunds):
            if refunded + r <= fen:
                book.refund("m", no, f"{no}-r{j}", r, fen, at + 1_000)
                refunded += r
        if reverse:
            book.reverse("m", no, at + 2_000)
        state = book.trades[("m", no)].state
        expected[no] = (state, fen, fen if reverse else refunded)
    text, count = render_trade_bill(book.trades.values(), book.refunds.values(), "m",
                                    dt.date(2024, 5, 1))
    assert count >= len(orders)
    parsed = {r.out_trade_no: (r.state, r.amount_fen, r.refunded_fen)
              for r in parse_trade_bill(text)}
    assert parsed == expected
    assert render_trade_bill(book.trades.values(), book.refunds.values(), "m",
                             dt.date(2024, 5, 2))[1] == 0
