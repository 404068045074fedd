"""The Alipay adapter against a local gateway that signs and verifies like Alipay's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.payments.alipay import AlipayProvider, AlipaySettings
from broker.payments.provider import (
    NotificationRejected,
    OutcomeUnknown,
    PaymentProvider,
    ProviderError,
    RefundStatus,
    TradeNotFound,
    TradeState,
)
from tests.alipay_gateway import AlipayGateway, Fault, KeyPair, china_time, generate_keypair

APP_ID = "2021000000000001"
SELLER_ID = "2088721000000001"
HOUR_S = 3600


@pytest.fixture(scope="module")
def app_keys() -> KeyPair:
    return generate_keypair()


@pytest.fixture(scope="module")
def alipay_keys() -> KeyPair:
    return generate_keypair()


@pytest.fixture(scope="module")
def stranger_keys() -> KeyPair:
    return generate_keypair()


@pytest.fixture
def gateway(app_keys: KeyPair, alipay_keys: KeyPair) -> Iterator[AlipayGateway]:
    gw = AlipayGateway(app_id=APP_ID, app_public_pem=app_keys.public_pem,
                       alipay_keys=alipay_keys, seller_id=SELLER_ID).start()
    yield gw
    gw.stop()


def make_provider(gw: AlipayGateway, app_keys: KeyPair, alipay_keys: KeyPair,
                  **overrides: object) -> AlipayProvider:
    fields: dict[str, object] = dict(
        app_id=APP_ID, app_private_key=app_keys.private_pem,
        alipay_public_key=alipay_keys.public_pem, notify_url="https://shop.example/alipay/notify",
        gateway=gw.url, seller_id=SELLER_ID, timeout_s=5.0)
    fields.update(overrides)
    return AlipayProvider(AlipaySettings(**fields))  # type: ignore[arg-type]


@pytest.fixture
def provider(gateway: AlipayGateway, app_keys: KeyPair, alipay_keys: KeyPair) -> AlipayProvider:
    return make_provider(gateway, app_keys, alipay_keys)


def now_ms() -> int:
    return int(time.time() * 1000)


def test_is_a_payment_provider(provider: AlipayProvider) -> None:
    p: PaymentProvider = provider
    assert p.name == "alipay"
    assert p.merchant_id == SELLER_ID


# --- payment code ----------------------------------------------------------------------------

async def test_codepay_success(provider: AlipayProvider, gateway: AlipayGateway) -> None:
    trade = await provider.codepay("o-1", 1234, "Milk x2", auth_code="281234567890123456",
                                   store_id="sh-01", device_id="t-1")
    assert trade.state is TradeState.SUCCESS
    assert trade.amount_fen == 1234
    assert trade.transaction_id and trade.payer
    assert trade.success_ms is not None and abs(trade.success_ms - now_ms()) < 5000
    seen = gateway.last("alipay.trade.pay")
    assert seen.biz["scene"] == "bar_code"
    assert seen.biz["total_amount"] == "12.34"
    assert seen.biz["auth_code"] == "281234567890123456"
    assert (seen.biz["store_id"], seen.biz["terminal_id"]) == ("sh-01", "t-1")
    assert seen.params["notify_url"] == "https://shop.example/alipay/notify"
    # stamped in China time whatever the host's zone (the SDK's own stamp is host local time)
    assert seen.params["timestamp"] in {china_time(time.time() - d) for d in range(5)}
    assert (await provider.query("o-1")).state is TradeState.SUCCESS


async def test_codepay_waiting_then_paid(provider: AlipayProvider,
                                         gateway: AlipayGateway) -> None:
    gateway.script_auth_code("28wait", "wait")
    trade = await provider.codepay("o-2", 500, "Bread", auth_code="28wait",
                                   store_id="sh-01", device_id="t-1")
    assert trade.state is TradeState.USERPAYING
    assert (await provider.query("o-2")).state is TradeState.USERPAYING
    gateway.buyer_pays("o-2")
    paid = await provider.query("o-2")
    assert paid.state is TradeState.SUCCESS
    assert paid.amount_fen == 500 and paid.success_ms is not None


async def test_codepay_insufficient_balance_is_definite(provider: AlipayProvider,
                                                        gateway: AlipayGateway) -> None:
    gateway.script_auth_code("28poor", "insufficient")
    with pytest.raises(ProviderError) as info:
        await provider.codepay("o-3", 99_00, "TV", auth_code="28poor",
                               store_id="sh-01", device_id="t-1")
    assert info.value.code == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    assert info.value.message  # Alipay's words, for the cashier


async def test_codepay_invalid_code_is_definite(provider: AlipayProvider,
                                                gateway: AlipayGateway) -> None:
    gateway.script_auth_code("28old", "invalid")
    with pytest.raises(ProviderError) as info:
        await provider.codepay("o-4", 100, "Gum", auth_code="28old",
                               store_id="sh-01", device_id="t-1")
    assert info.value.code == "ACQ.PAYMENT_AUTH_CODE_INVALID"


async def test_server_500_is_unknown_and_query_resolves(provider: AlipayProvider,
                                                        gateway: AlipayGateway) -> None:
    gateway.fail_next(Fault("http500"))
    with pytest.raises(OutcomeUnknown):
        await provider.codepay("o-5", 700, "Eggs", auth_code="28x",
                               store_id="sh-01", device_id="t-1")
    # the money moved although the answer was lost: only query can tell
    assert (await provider.query("o-5")).state is TradeState.SUCCESS


async def test_timeout_is_unknown(gateway: AlipayGateway, app_keys: KeyPair,
                                  alipay_keys: KeyPair) -> None:
    provider = make_provider(gateway, app_keys, alipay_keys, timeout_s=0.3)
    gateway.fail_next(Fault("delay", seconds=1.5))
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        await provider.codepay("o-6", 100, "Tea", auth_code="28t",
                               store_id="sh-01", device_id="t-1")
    assert time.monotonic() - started < 1.2


async def test_dropped_connection_and_unreachable_gateway_are_unknown(
        provider: AlipayProvider, gateway: AlipayGateway, app_keys: KeyPair,
        alipay_keys: KeyPair) -> None:
    gateway.fail_next(Fault("drop"))
    with pytest.raises(OutcomeUnknown):
        await provider.codepay("o-7", 100, "Tea", auth_code="28t",
                               store_id="sh-01", device_id="t-1")
    gateway.stop()  # nothing listens on its port any more
    nowhere = make_provider(gateway, app_keys, alipay_keys)
    with pytest.raises(OutcomeUnknown):
        await nowhere.query("o-7")


@pytest.mark.parametrize("fault", [Fault("code", code="20000", sub_code="isp.unknow-error"),
                                   Fault("code", code="40004", sub_code="ACQ.SYSTEM_ERROR"),
                                   Fault("code", code="50123", sub_code="")])
async def test_system_errors_and_unknown_codes_are_unknown(provider: AlipayProvider,
                                                           gateway: AlipayGateway,
                                                           fault: Fault) -> None:
    gateway.fail_next(fault)
    with pytest.raises(OutcomeUnknown):
        await provider.codepay("o-8", 100, "Tea", auth_code="28t",
                               store_id="sh-01", device_id="t-1")


async def test_badly_signed_success_is_never_trusted(provider: AlipayProvider,
                                                     gateway: AlipayGateway) -> None:
    gateway.fail_next(Fault("bad_sign"))
    with pytest.raises(OutcomeUnknown):
        await provider.codepay("o-9", 100, "Tea", auth_code="28t",
                               store_id="sh-01", device_id="t-1")
    gateway.fail_next(Fault("unsigned"))
    with pytest.raises(OutcomeUnknown):
        await provider.query("o-9")


async def test_gateway_checks_our_signature(gateway: AlipayGateway, stranger_keys: KeyPair,
                                            alipay_keys: KeyPair) -> None:
    impostor = make_provider(gateway, stranger_keys, alipay_keys)
    with pytest.raises(ProviderError) as info:
        await impostor.codepay("o-10", 100, "Tea", auth_code="28t",
                               store_id="sh-01", device_id="t-1")
    assert info.value.code == "isv.invalid-signature"
    assert "o-10" not in gateway.trades


async def test_keys_as_the_alipay_console_shows_them(gateway: AlipayGateway, app_keys: KeyPair,
                                                     alipay_keys: KeyPair) -> None:
    provider = make_provider(gateway, app_keys, alipay_keys,
                             app_private_key=app_keys.private_base64,
                             alipay_public_key=alipay_keys.public_base64)
    trade = await provider.codepay("o-11", 100, "Tea", auth_code="28t",
                                   store_id="sh-01", device_id="t-1")
    assert trade.state is TradeState.SUCCESS


async def test_face_and_agreement_pay(provider: AlipayProvider, gateway: AlipayGateway) -> None:
    face = await provider.facepay("o-12", 250, "Apple", ftoken="fp0a1b2c",
                                  store_id="sh-01", device_id="t-1")
    assert face.state is TradeState.SUCCESS
    assert gateway.last("alipay.trade.pay").biz["scene"] == "security_code"

    gateway.agreements.add("20215000000000001234")
    paid = await provider.agreement_pay("o-13", 990, "Basket", contract_id="20215000000000001234")
    assert paid.state is TradeState.SUCCESS and paid.amount_fen == 990
    seen = gateway.last("alipay.trade.pay").biz
    assert seen["product_code"] == "GENERAL_WITHHOLDING"
    assert seen["agreement_params"] == {"agreement_no": "20215000000000001234"}
    with pytest.raises(ProviderError) as info:
        await provider.agreement_pay("o-14", 990, "Basket", contract_id="nope")
    assert info.value.code == "ACQ.AGREEMENT_NOT_EXIST"


# --- QR, cancel, close ------------------------------------------------------------------------

async def test_precreate_qr_lifecycle(provider: AlipayProvider, gateway: AlipayGateway) -> None:
    expires = now_ms() + 5 * 60_000
    order = await provider.native("q-1", 1999, "Groceries", expires_ms=expires)
    assert order.code_url.startswith("https://qr.alipay.com/")
    assert order.expires_ms == expires
    seen = gateway.last("alipay.trade.precreate").biz
    assert seen["total_amount"] == "19.99"
    assert seen["time_expire"] == china_time(expires / 1000)
    assert seen["qr_code_timeout_express"] == "5m"
    # nobody scanned yet: Alipay has no trade, the attempt is simply unpaid
    assert (await provider.query("q-1")).state is TradeState.NOTPAY
    gateway.scan("q-1")
    assert (await provider.query("q-1")).state is TradeState.NOTPAY
    gateway.buyer_pays("q-1")
    paid = await provider.query("q-1")
    assert paid.state is TradeState.SUCCESS and paid.amount_fen == 1999


async def test_close_a_scanned_qr(provider: AlipayProvider, gateway: AlipayGateway) -> None:
    await provider.native("q-2", 100, "Gum", expires_ms=now_ms() + 60_000)
    with pytest.raises(TradeNotFound):  # unscanned: nothing to close at Alipay yet
        await provider.close("q-2")
    gateway.scan("q-2")
    await provider.close("q-2")
    assert (await provider.query("q-2")).state is TradeState.CLOSED


async def test_close_refuses_a_paid_trade(provider: AlipayProvider) -> None:
    await provider.codepay("o-15", 100, "Tea", auth_code="28t", store_id="s", device_id="t")
    with pytest.raises(ProviderError) as info:
        await provider.close("o-15")
    assert info.value.code == "ACQ.TRADE_STATUS_ERROR"
    assert (await provider.query("o-15")).state is TradeState.SUCCESS


async def test_reverse_waiting_and_paid_code_orders(provider: AlipayProvider,
                                                    gateway: AlipayGateway) -> None:
    gateway.script_auth_code("28slow", "wait")
    await provider.codepay("o-16", 300, "Tea", auth_code="28slow", store_id="s", device_id="t")
    await provider.reverse("o-16")
    assert (await provider.query("o-16")).state is TradeState.REVOKED
    await provider.codepay("o-17", 300, "Tea", auth_code="28t", store_id="s", device_id="t")
    await provider.reverse("o-17")
    assert (await provider.query("o-17")).state is TradeState.REVOKED
    assert gateway.trades["o-17"].status == "TRADE_CLOSED"


async def test_reverse_asking_for_retry_is_unknown(provider: AlipayProvider,
                                                   gateway: AlipayGateway) -> None:
    gateway.fail_next(Fault("code", code="40004", sub_code="ACQ.SYSTEM_ERROR"))
    with pytest.raises(OutcomeUnknown):
        await provider.reverse("o-18")


async def test_query_unknown_trade(provider: AlipayProvider) -> None:
    with pytest.raises(TradeNotFound) as info:
        await provider.query("never-sent")
    assert info.value.code == "ACQ.TRADE_NOT_EXIST"


# --- refunds ---------------------------------------------------------------------------------

async def test_refund_is_idempotent_on_out_refund_no(provider: AlipayProvider,
                                                     gateway: AlipayGateway) -> None:
    await provider.codepay("o-20", 1000, "Wine", auth_code="28t", store_id="s", device_id="t")
    first = await provider.refund("o-20", "r-1", 400, 1000, reason="broken bottle")
    assert (first.status, first.amount_fen, first.out_refund_no) == (
        RefundStatus.SUCCESS, 400, "r-1")
    again = await provider.refund("o-20", "r-1", 400, 1000, reason="broken bottle")
    assert (again.status, again.amount_fen) == (RefundStatus.SUCCESS, 400)
    assert gateway.trades["o-20"].refunded_fen == 400  # the money moved once
    assert gateway.last("alipay.trade.refund").biz["out_request_no"] == "r-1"
    assert (await provider.query("o-20")).state is TradeState.REFUND
    looked_up = await provider.query_refund("r-1")
    assert (looked_up.status, looked_up.amount_fen, looked_up.out_trade_no) == (
        RefundStatus.SUCCESS, 400, "o-20")


async def test_refund_beyond_what_was_paid_is_refused(provider: AlipayProvider) -> None:
    await provider.codepay("o-21", 1000, "Wine", auth_code="28t", store_id="s", device_id="t")
    await provider.refund("o-21", "r-2", 600, 1000)
    with pytest.raises(ProviderError) as info:
        await provider.refund("o-21", "r-3", 600, 1000)
    assert info.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    with pytest.raises(ProviderError):  # same out_refund_no, other amount
        await provider.refund("o-21", "r-2", 500, 1000)


async def test_full_refund_reads_as_refunded(provider: AlipayProvider,
                                             gateway: AlipayGateway) -> None:
    await provider.codepay("o-22", 800, "Wine", auth_code="28t", store_id="s", device_id="t")
    await provider.refund("o-22", "r-4", 800, 800)
    assert gateway.trades["o-22"].status == "TRADE_CLOSED"
    assert (await provider.query("o-22")).state is TradeState.REFUND


async def test_refund_query_needs_the_trade(provider: AlipayProvider, gateway: AlipayGateway,
                                            app_keys: KeyPair, alipay_keys: KeyPair) -> None:
    await provider.codepay("o-23", 800, "Wine", auth_code="28t", store_id="s", device_id="t")
    await provider.refund("o-23", "r-5", 100, 800)
    restarted = make_provider(gateway, app_keys, alipay_keys)
    with pytest.raises(ProviderError) as info:
        await restarted.query_refund("r-5")
    assert info.value.code == "UNSUPPORTED"
    found = await restarted.query_refund("r-5", out_trade_no="o-23")
    assert found.status is RefundStatus.SUCCESS
    missing = await restarted.query_refund("r-404", out_trade_no="o-23")
    assert missing.status is RefundStatus.PROCESSING


async def test_calls_run_concurrently(provider: AlipayProvider) -> None:
    trades = await asyncio.gather(*(
        provider.codepay(f"o-c{i}", 100 + i, "Tea", auth_code="28t", store_id="s",
                         device_id="t") for i in range(6)))
    assert [t.amount_fen for t in trades] == [100 + i for i in range(6)]


async def test_bill_is_unsupported(provider: AlipayProvider) -> None:
    import datetime as dt

    with pytest.raises(ProviderError) as info:
        await provider.bill(dt.date(2025, 1, 1))
    assert info.value.code == "UNSUPPORTED"


# --- notifications ---------------------------------------------------------------------------

async def paid_trade(provider: AlipayProvider, out_trade_no: str = "n-1") -> None:
    await provider.codepay(out_trade_no, 1234, "Milk", auth_code="28t", store_id="s",
                           device_id="t")


async def test_signed_notification_parses(provider: AlipayProvider,
                                          gateway: AlipayGateway) -> None:
    await paid_trade(provider)
    fields = gateway.notification_fields("n-1")
    note = provider.parse_notification(
        {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        gateway.notification_body(fields), now_ms())
    assert note.kind == "transaction" and note.notification_id == fields["notify_id"]
    assert note.trade is not None
    assert note.trade.out_trade_no == "n-1"
    assert note.trade.state is TradeState.SUCCESS
    assert note.trade.amount_fen == 1234
    assert note.trade.transaction_id == gateway.trades["n-1"].trade_no
    assert note.trade.success_ms is not None
    assert provider.notification_ack(True).body == b"success"
    assert provider.notification_ack(False).body == b"fail"


async def test_refund_notification(provider: AlipayProvider, gateway: AlipayGateway) -> None:
    await paid_trade(provider)
    await provider.refund("n-1", "r-n", 234, 1234)
    body = gateway.notification_body(gateway.notification_fields("n-1"))
    note = provider.parse_notification({}, body, now_ms())
    assert note.trade is not None and note.trade.state is TradeState.REFUND


async def test_tampered_notification_rejected(provider: AlipayProvider,
                                              gateway: AlipayGateway) -> None:
    await paid_trade(provider)
    body = gateway.notification_body(gateway.notification_fields("n-1"))
    fields = dict(parse_qsl(body.decode()))
    fields["total_amount"] = "0.01"
    with pytest.raises(NotificationRejected) as info:
        provider.parse_notification({}, urlencode(fields).encode(), now_ms())
    assert info.value.reason == "bad_signature"
    del fields["sign"]
    with pytest.raises(NotificationRejected) as info:
        provider.parse_notification({}, urlencode(fields).encode(), now_ms())
    assert info.value.reason == "bad_signature"


async def test_notification_from_another_app_or_key_rejected(
        provider: AlipayProvider, gateway: AlipayGateway, stranger_keys: KeyPair) -> None:
    await paid_trade(provider)
    other_app = gateway.notification_body(
        gateway.notification_fields("n-1", app_id="2021999999999999"))
    with pytest.raises(NotificationRejected) as info:
        provider.parse_notification({}, other_app, now_ms())
    assert info.value.reason == "wrong_merchant"
    other_seller = gateway.notification_body(
        gateway.notification_fields("n-1", seller_id="2088000000000999"))
    with pytest.raises(NotificationRejected) as info:
        provider.parse_notification({}, other_seller, now_ms())
    assert info.value.reason == "wrong_merchant"
    forged = gateway.notification_body(gateway.notification_fields("n-1"),
                                       key=stranger_keys.private_key)
    with pytest.raises(NotificationRejected) as info:
        provider.parse_notification({}, forged, now_ms())
    assert info.value.reason == "bad_signature"


async def test_notification_age_window(provider: AlipayProvider,
                                       gateway: AlipayGateway) -> None:
    await paid_trade(provider)
    now_s = time.time()
    retried = gateway.notification_body(
        gateway.notification_fields("n-1", notify_time_s=now_s - 15 * HOUR_S))
    assert provider.parse_notification({}, retried, now_ms()).trade is not None
    for notify_s in (now_s - 27 * HOUR_S, now_s + 10 * 60):
        body = gateway.notification_body(
            gateway.notification_fields("n-1", notify_time_s=notify_s))
        with pytest.raises(NotificationRejected) as info:
            provider.parse_notification({}, body, now_ms())
        assert info.value.reason == "stale"


async def test_notification_with_other_sign_type_rejected(provider: AlipayProvider,
                                                          gateway: AlipayGateway) -> None:
    await paid_trade(provider)
    fields = dict(parse_qsl(
        gateway.notification_body(gateway.notification_fields("n-1")).decode()))
    fields["sign_type"] = "RSA"
    with pytest.raises(NotificationRejected) as info:
        provider.parse_notification({}, urlencode(fields).encode(), now_ms())
    assert info.value.reason == "bad_signature"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(["sign", "sign_type", "app_id", "notify_time", "notify_id",
                                     "trade_status", "out_trade_no", "total_amount", "x"]),
                    st.text(max_size=40), max_size=9).map(lambda d: urlencode(d).encode())))
def test_any_unsigned_body_is_rejected_cleanly(provider: AlipayProvider, body: bytes) -> None:
    with pytest.raises(NotificationRejected):
        provider.parse_notification({}, body, now_ms())
