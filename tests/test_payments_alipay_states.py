"""Alipay codes, statuses, amounts and times onto the provider interface (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.payments.alipay_states import (
    MAX_FEN,
    AlipayApi,
    ResponseVerdict,
    TradeKind,
    Verdict,
    classify_response,
    fen_to_yuan,
    format_alipay_time,
    notification_from_fields,
    parse_alipay_time,
    refund_status,
    trade_state,
    yuan_to_fen,
    yuan_to_fen_or_none,
)
from broker.payments.provider import (
    NotificationRejected,
    OutcomeUnknown,
    ProviderError,
    RefundStatus,
    TradeNotFound,
    TradeState,
)

KNOWN_CODES = ["10000", "10003", "20000", "20001", "40001", "40002", "40003", "40004", "40006"]
SUB_CODES = ["ACQ.SYSTEM_ERROR", "ACQ.TRADE_NOT_EXIST", "ACQ.BUYER_BALANCE_NOT_ENOUGH",
             "ACQ.PAYMENT_AUTH_CODE_INVALID", "isp.unknow-error", "isv.invalid-signature", ""]
texts = st.text(max_size=12)
codes = st.one_of(st.sampled_from(KNOWN_CODES), texts, st.integers(), st.none())
responses = st.dictionaries(
    st.sampled_from(["code", "msg", "sub_code", "sub_msg", "retry_flag", "action", "other"]),
    st.one_of(texts, st.integers(), st.none(), st.sampled_from(KNOWN_CODES + SUB_CODES + ["Y"])),
    max_size=7)


# --- amounts -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "fen"), [("12.34", 1234), ("0.01", 1), ("5", 500),
                                           ("5.5", 550), ("0.00", 0), ("100000000.00", MAX_FEN)])
def test_yuan_to_fen(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["12.345", "-1.00", "+1.00", "1e3", " 1.00", "1.00 ", "",
                                  ".5", "1.", "01.00", "100000000.01", "1,00", "１.00", "NaN"])
def test_yuan_to_fen_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(text)
    assert yuan_to_fen_or_none(text) is None


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_fen_round_trips_exactly(fen: int) -> None:
    text = fen_to_yuan(fen)
    assert len(text.split(".")[1]) == 2
    assert yuan_to_fen(text) == fen


@given(st.text(max_size=16))
def test_yuan_parser_never_crashes_and_is_exact(text: str) -> None:
    try:
        fen = yuan_to_fen(text)
    except ValueError:
        return
    assert 0 <= fen <= MAX_FEN
    whole, _, decimals = text.partition(".")
    assert fen == int(whole) * 100 + int(decimals.ljust(2, "0"))


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_FEN + 1), st.booleans(),
                 st.floats(), st.text(max_size=5)))
def test_fen_to_yuan_refuses_what_cannot_be_sent(value: object) -> None:
    with pytest.raises(ValueError):
        fen_to_yuan(value)  # type: ignore[arg-type]


# --- times ---------------------------------------------------------------------------------------

def test_alipay_time_is_china_time() -> None:
    assert parse_alipay_time("2024-05-01 08:00:00") == int(
        dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1000)
    assert format_alipay_time(1_714_521_600_000) == "2024-05-01 08:00:00"


@given(st.integers(min_value=0, max_value=4_102_444_800).map(lambda s: s * 1000))
def test_alipay_time_round_trips(epoch_ms: int) -> None:
    assert parse_alipay_time(format_alipay_time(epoch_ms)) == epoch_ms


@given(st.text(max_size=25))
def test_alipay_time_parser_is_strict(text: str) -> None:
    try:
        epoch_ms = parse_alipay_time(text)
    except ValueError:
        return
    assert format_alipay_time(epoch_ms) == text  # only the canonical spelling is accepted


# --- response codes ------------------------------------------------------------------------------

def verdict(api: AlipayApi, **response: object) -> ResponseVerdict:
    return classify_response(api, response)


def test_success_and_waiting() -> None:
    assert verdict(AlipayApi.PAY, code="10000").verdict is Verdict.OK
    assert verdict(AlipayApi.PAY, code="10003").verdict is Verdict.WAITING
    # "waiting for the user" only makes sense for a payment
    assert verdict(AlipayApi.REFUND, code="10003").verdict is Verdict.UNKNOWN


@pytest.mark.parametrize("response", [
    {"code": "20000", "sub_code": "isp.unknow-error"},
    {"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"},
    {"code": "40004", "sub_code": "isp.rpc-timeout"},
    {"code": "40004"},
    {"code": "99999"},
    {},
])
def test_unknown_outcomes(response: dict[str, str]) -> None:
    result = classify_response(AlipayApi.PAY, response)
    assert result.verdict is Verdict.UNKNOWN
    assert isinstance(result.error(), OutcomeUnknown)


@pytest.mark.parametrize("sub_code", ["ACQ.PAYMENT_AUTH_CODE_INVALID",
                                      "ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.TRADE_HAS_SUCCESS"])
def test_business_failures_are_definite(sub_code: str) -> None:
    error = verdict(AlipayApi.PAY, code="40004", sub_code=sub_code, sub_msg="why").error()
    assert type(error) is ProviderError
    assert (error.code, error.message) == (sub_code, "why")


def test_trade_not_exist_and_gateway_refusals() -> None:
    error = verdict(AlipayApi.QUERY, code="40004", sub_code="ACQ.TRADE_NOT_EXIST").error()
    assert isinstance(error, TradeNotFound) and error.code == "ACQ.TRADE_NOT_EXIST"
    refused = verdict(AlipayApi.PAY, code="40002", sub_code="isv.invalid-signature").error()
    assert type(refused) is ProviderError and refused.code == "isv.invalid-signature"


def test_cancel_asking_for_a_retry_is_unknown() -> None:
    assert verdict(AlipayApi.CANCEL, code="10000", retry_flag="N").verdict is Verdict.OK
    assert verdict(AlipayApi.CANCEL, code="10000", retry_flag="Y").verdict is Verdict.UNKNOWN
    assert verdict(AlipayApi.CANCEL, code="40004", sub_code="ACQ.REASON_TRADE_BEEN_FREEZEN",
                   retry_flag="Y").verdict is Verdict.UNKNOWN


@given(st.sampled_from(list(AlipayApi)), responses)
def test_every_response_has_exactly_one_meaning(api: AlipayApi,
                                                response: dict[str, object]) -> None:
    result = classify_response(api, response)
    error = result.error()
    if result.verdict in (Verdict.OK, Verdict.WAITING):
        assert error is None
    else:
        assert isinstance(error, ProviderError | OutcomeUnknown)
    if result.verdict is Verdict.OK:
        assert response.get("code") == "10000"
    if result.verdict is Verdict.WAITING:
        assert api is AlipayApi.PAY and response.get("code") == "10003"


@given(codes, st.one_of(texts, st.sampled_from(SUB_CODES)))
def test_pay_never_reads_an_unknown_code_as_definite(code: object, sub_code: str) -> None:
    result = classify_response(AlipayApi.PAY, {"code": code, "sub_code": sub_code})
    if code not in KNOWN_CODES:
        assert result.verdict is Verdict.UNKNOWN
    if result.verdict is Verdict.FAILED:
        assert code in KNOWN_CODES and code not in ("10000", "10003", "20000")


# --- trade states --------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "kwargs", "state"), [
    ("WAIT_BUYER_PAY", {"kind": TradeKind.CODE}, TradeState.USERPAYING),
    ("WAIT_BUYER_PAY", {"kind": TradeKind.QR}, TradeState.NOTPAY),
    ("WAIT_BUYER_PAY", {}, TradeState.USERPAYING),
    ("TRADE_SUCCESS", {}, TradeState.SUCCESS),
    ("TRADE_FINISHED", {}, TradeState.SUCCESS),
    ("TRADE_SUCCESS", {"refunded_fen": 1}, TradeState.REFUND),
    ("TRADE_CLOSED", {}, TradeState.CLOSED),
    ("TRADE_CLOSED", {"reversed_": True}, TradeState.REVOKED),
    ("TRADE_CLOSED", {"refunded_fen": 500}, TradeState.REFUND),
])
def test_trade_states(status: str, kwargs: dict[str, object], state: TradeState) -> None:
    assert trade_state(status, **kwargs) is state  # type: ignore[arg-type]


@given(st.one_of(texts, st.none(), st.integers()), st.sampled_from([None, *TradeKind]),
       st.integers(min_value=0, max_value=MAX_FEN), st.booleans())
def test_trade_state_is_total(status: object, kind: TradeKind | None, refunded: int,
                              reversed_: bool) -> None:
    state = trade_state(status, kind=kind, refunded_fen=refunded, reversed_=reversed_)
    known = status in ("WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED")
    assert (state is None) is not known
    if state is not None and state.paid:
        assert status != "WAIT_BUYER_PAY"


def test_refund_status() -> None:
    assert refund_status({"refund_status": "REFUND_SUCCESS"}) is RefundStatus.SUCCESS
    assert refund_status({"refund_amount": "1.00"}) is RefundStatus.SUCCESS
    assert refund_status({}) is RefundStatus.PROCESSING


# --- notification fields -------------------------------------------------------------------------

NOW_MS = 1_714_521_600_000  # 2024-05-01 08:00:00 China time


def fields(**overrides: str) -> dict[str, str]:
    base = {"app_id": "app", "seller_id": "2088", "notify_time": "2024-05-01 08:00:00",
            "notify_type": "trade_status_sync", "notify_id": "n1", "out_trade_no": "o-1",
            "trade_no": "t-1", "trade_status": "TRADE_SUCCESS", "total_amount": "12.34",
            "buyer_id": "2088buyer", "gmt_payment": "2024-05-01 07:59:58"}
    base.update(overrides)
    return base


def parse(f: dict[str, str], now_ms: int = NOW_MS):  # type: ignore[no-untyped-def]
    return notification_from_fields(f, app_id="app", seller_id="2088", now_ms=now_ms,
                                    max_age_ms=26 * 3_600_000, max_future_ms=300_000)


def test_notification_fields() -> None:
    note = parse(fields())
    assert note.notification_id == "n1" and note.create_ms == NOW_MS
    assert note.trade is not None
    assert (note.trade.state, note.trade.amount_fen, note.trade.payer) == (
        TradeState.SUCCESS, 1234, "2088buyer")
    assert note.trade.success_ms == NOW_MS - 2000
    assert parse(fields(refund_fee="2.00")).trade.state is TradeState.REFUND  # type: ignore[union-attr]
    reversed_ = parse(fields(trade_status="TRADE_CLOSED", notify_action_type="reverseAction"))
    assert reversed_.trade.state is TradeState.REVOKED  # type: ignore[union-attr]


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"app_id": "other"}, "wrong_merchant"),
    ({"seller_id": "2089"}, "wrong_merchant"),
    ({"notify_time": "2024-04-30 05:59:59"}, "stale"),
    ({"notify_time": "2024-05-01 08:05:01"}, "stale"),
    ({"notify_time": "yesterday"}, "malformed"),
    ({"notify_id": ""}, "malformed"),
    ({"notify_type": "fund_change"}, "unsupported"),
    ({"trade_status": "TRADE_PENDING"}, "unsupported"),
])
def test_notification_fields_rejected(overrides: dict[str, str], reason: str) -> None:
    with pytest.raises(NotificationRejected) as info:
        parse(fields(**overrides))
    assert info.value.reason == reason


@given(st.dictionaries(st.sampled_from(list(fields())), st.text(max_size=20), max_size=11))
def test_notification_fields_never_crash(f: dict[str, str]) -> None:
    try:
        note = parse(f)
    except NotificationRejected:
        return
    assert note.trade is not None and note.trade.out_trade_no == f["out_trade_no"]
