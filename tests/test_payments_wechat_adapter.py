"""The WeChat Pay v3 adapter (the real `wechatpayv3` SDK) against the real sandbox server:
every provider call, definite refusals vs unknown outcomes, notifications, the bill."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from payments_sandbox_fixtures import FAST, Receiver, running_receiver, wait_for

from broker.payments import wechat_crypto as wc
from broker.payments.provider import (
    NotificationRejected,
    OutcomeUnknown,
    ProviderError,
    RefundStatus,
    TradeNotFound,
    TradeState,
)
from broker.payments.sandbox import SandboxServer, wire
from broker.payments.sandbox.keys import SandboxKeys, generate
from broker.payments.wechat import WechatPayProvider, sandbox_provider
from broker.payments.wechat_codec import china_day

M = "1900000109"


def code(tail: str, serial: int) -> str:
    return f"13{serial:014d}{tail}"


@pytest.fixture(scope="module")
def keys() -> SandboxKeys:
    return generate([M, "1900000200"])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


@pytest.fixture
async def sb(keys: SandboxKeys) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(keys, config=FAST) as server:
        server.sandbox.faults.hang_ms = 1_000
        yield server


@pytest.fixture
async def pay(keys: SandboxKeys, sb: SandboxServer,
              receiver: Receiver) -> AsyncIterator[WechatPayProvider]:
    async with sandbox_provider(keys, sb.base_url, receiver.url, timeout_s=0.4) as provider:
        yield provider


async def admin(sb: SandboxServer, method: str, path: str, body: dict | None = None) -> dict:
    async with httpx.AsyncClient() as c:
        r = await c.request(method, sb.base_url + "/sandbox" + path, json=body)
        assert r.status_code < 300, r.text
        return r.json()


def in_a_minute() -> int:
    return int(time.time() * 1000) + 60_000


async def test_native_paid_in_the_wallet_is_success_on_query(pay: WechatPayProvider,
                                                             sb: SandboxServer) -> None:
    order = await pay.native("n-1", 1300, "Milk", expires_ms=in_a_minute(), attach="o-1")
    assert (order.out_trade_no, order.code_url[:9]) == ("n-1", "weixin://")
    assert (await pay.query("n-1")).state is TradeState.NOTPAY
    await admin(sb, "POST", "/scan", {"code_url": order.code_url})
    trade = await pay.query("n-1")
    assert (trade.state, trade.amount_fen, trade.payer) == (TradeState.SUCCESS, 1300,
                                                            "o-sbx-default")
    assert trade.transaction_id and trade.success_ms
    assert pay.name == "sandbox" and pay.merchant_id == M


async def test_payment_codes_success_userpaying_and_refused(pay: WechatPayProvider,
                                                            sb: SandboxServer) -> None:
    ok = await pay.codepay("c-1", 500, "Bread", auth_code=code("00", 1), store_id="sh-01",
                           device_id="t-1")
    assert (ok.state, ok.amount_fen) == (TradeState.SUCCESS, 500)
    waiting = await pay.codepay("c-2", 500, "Bread", auth_code=code("95", 2), store_id="sh-01",
                                device_id="t-1")
    assert waiting.state is TradeState.USERPAYING
    assert (await pay.query("c-2")).state is TradeState.USERPAYING
    sb.sandbox.clock.advance(5_000)
    assert (await pay.query("c-2")).state is TradeState.SUCCESS
    with pytest.raises(ProviderError) as refused:
        await pay.codepay("c-3", 500, "Bread", auth_code=code("80", 3), store_id="sh-01",
                          device_id="t-1")
    assert (refused.value.code, refused.value.http_status) == ("NOTENOUGH", 403)
    assert (await pay.query("c-3")).state is TradeState.PAYERROR
    with pytest.raises(ProviderError, match="AUTH_CODE_INVALID"):  # a code pays once
        await pay.codepay("c-4", 500, "Bread", auth_code=code("00", 1), store_id="s",
                          device_id="t")


async def test_reverse_close_and_unknown_orders(pay: WechatPayProvider) -> None:
    await pay.codepay("c-1", 500, "Bread", auth_code=code("90", 1), store_id="s", device_id="t")
    await pay.reverse("c-1")
    assert (await pay.query("c-1")).state is TradeState.REVOKED
    await pay.native("n-1", 100, "Gum", expires_ms=in_a_minute())
    await pay.close("n-1")
    assert (await pay.query("n-1")).state is TradeState.CLOSED
    await pay.codepay("c-2", 500, "Bread", auth_code=code("00", 2), store_id="s", device_id="t")
    with pytest.raises(ProviderError) as paid:
        await pay.close("c-2")
    assert paid.value.code == "ORDERPAID"
    with pytest.raises(TradeNotFound):
        await pay.query("never-created")


async def test_refunds_are_idempotent_on_out_refund_no(pay: WechatPayProvider,
                                                       sb: SandboxServer) -> None:
    await pay.codepay("c-1", 500, "Bread", auth_code=code("00", 1), store_id="s", device_id="t")
    wallet = sb.sandbox.book.wallets.payers["o-sbx-default"]
    before = wallet.balance_fen
    first = await pay.refund("c-1", "r-1", 200, 500, reason="damaged")
    again = await pay.refund("c-1", "r-1", 200, 500, reason="damaged")
    assert first.refund_id == again.refund_id and first.amount_fen == 200
    assert (await pay.query_refund("r-1")).status is RefundStatus.SUCCESS
    assert wallet.balance_fen == before + 200  # refunded once
    assert (await pay.query("c-1")).state is TradeState.REFUND
    with pytest.raises(ProviderError, match="INVALID_REQUEST"):
        await pay.refund("c-1", "r-2", 301, 500)


async def test_agreement_charges(pay: WechatPayProvider, sb: SandboxServer) -> None:
    payer = await admin(sb, "POST", "/payers", {"name": "Face", "balance_fen": 1_000})
    contract = await admin(sb, "POST", "/contracts", {"mchid": M, "payer_id": payer["payer_id"]})
    trade = await pay.agreement_pay("a-1", 800, "Lunch", contract_id=contract["contract_id"])
    assert (trade.state, trade.payer) == (TradeState.SUCCESS, payer["payer_id"])
    with pytest.raises(ProviderError, match="NOTENOUGH"):
        await pay.agreement_pay("a-2", 800, "Lunch", contract_id=contract["contract_id"])


async def test_a_500_is_unknown_and_had_no_effect(pay: WechatPayProvider,
                                                  sb: SandboxServer) -> None:
    await admin(sb, "PUT", "/faults", {"endpoints": {"codepay": {"script": ["error"]}}})
    with pytest.raises(OutcomeUnknown):
        await pay.codepay("c-1", 500, "Bread", auth_code=code("00", 1), store_id="s",
                          device_id="t")
    with pytest.raises(TradeNotFound):
        await pay.query("c-1")


async def test_a_timeout_is_unknown_but_the_payment_happened(pay: WechatPayProvider,
                                                             sb: SandboxServer) -> None:
    await admin(sb, "PUT", "/faults", {"hang_ms": 1_000,
                                       "endpoints": {"codepay": {"script": ["timeout"]}}})
    with pytest.raises(OutcomeUnknown, match="no answer in time"):
        await pay.codepay("c-1", 500, "Bread", auth_code=code("00", 1), store_id="s",
                          device_id="t")
    assert (await pay.query("c-1")).state is TradeState.SUCCESS  # query resolves it


async def test_an_unverifiable_answer_or_no_server_is_unknown(keys: SandboxKeys,
                                                              sb: SandboxServer) -> None:
    forged = dataclasses.replace(keys, platform_public_key=generate([]).platform_public_key)
    async with sandbox_provider(forged, sb.base_url, "http://x/n") as wrong_key:
        with pytest.raises(OutcomeUnknown):
            await wrong_key.codepay("c-1", 500, "Bread", auth_code=code("00", 1),
                                    store_id="s", device_id="t")
    assert sb.sandbox.book.trades[(M, "c-1")].state is TradeState.SUCCESS  # it did happen
    async with sandbox_provider(keys, "http://127.0.0.1:9", "http://x/n") as nowhere:
        with pytest.raises(OutcomeUnknown):
            await nowhere.query("c-1")


async def test_notifications_are_verified(keys: SandboxKeys, sb: SandboxServer,
                                          receiver: Receiver) -> None:
    pay = sandbox_provider(keys, sb.base_url, "http://127.0.0.1:9/not-yet")
    pay.set_notify_url(receiver.url)  # known once the merchant's HTTP server listens
    order = await pay.native("n-1", 1300, "Milk", expires_ms=in_a_minute())
    await admin(sb, "POST", "/scan", {"code_url": order.code_url})
    await wait_for(lambda: receiver.received)
    headers, body = receiver.received[0]
    now = int(time.time() * 1000)
    note = pay.parse_notification(headers, body, now)
    assert note.kind == "transaction" and note.trade is not None
    assert (note.trade.out_trade_no, note.trade.state, note.trade.amount_fen) == \
        ("n-1", TradeState.SUCCESS, 1300)
    await pay.refund("n-1", "r-1", 300, 1300)
    await wait_for(lambda: len(receiver.received) == 2)
    refund = pay.parse_notification(*receiver.received[1], now).refund
    assert refund is not None and (refund.out_refund_no, refund.amount_fen, refund.status) == \
        ("r-1", 300, RefundStatus.SUCCESS)
    assert pay.notification_ack(True).status == 204
    nack = pay.notification_ack(False)
    assert nack.status == 500 and orjson.loads(nack.body)["code"] == "FAIL"
    await pay.aclose()


def test_stale_foreign_or_tampered_notifications_are_rejected(keys: SandboxKeys) -> None:
    pay = sandbox_provider(keys, "http://127.0.0.1:9", "http://x/n")
    platform = wc.load_private_key(keys.platform_private_key)
    now_ms = int(time.time() * 1000)

    def notification(mchid: str, *, signed_at_ms: int = now_ms) -> tuple[dict, bytes]:
        resource = {"mchid": mchid, "appid": "wx", "out_trade_no": "n-1",
                    "trade_state": "SUCCESS", "amount": {"total": 1300}}
        body = orjson.dumps(wire.notification_body("id-1", "TRANSACTION.SUCCESS", resource,
                                                   keys.primary.apiv3_key, now_ms))
        return wc.signed_headers(platform, keys.public_key_id, body,
                                 timestamp_s=signed_at_ms // 1000), body

    headers, body = notification(M)
    assert pay.parse_notification(headers, body, now_ms).trade.amount_fen == 1300

    def reason(headers: dict, body: bytes) -> str:
        with pytest.raises(NotificationRejected) as e:
            pay.parse_notification(headers, body, now_ms)
        return e.value.reason

    assert reason(*notification(M, signed_at_ms=now_ms - 301_000)) == "stale"
    assert reason(*notification(M, signed_at_ms=now_ms + 301_000)) == "stale"
    assert reason(*notification("1900000999")) == "wrong_merchant"
    assert reason(headers, body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.CLOSED")) == \
        "bad_signature"
    assert reason({**headers, "Wechatpay-Serial": "PUB_KEY_ID_other"}, body) == "bad_signature"
    assert reason({}, body) == "malformed"
    other = sandbox_provider(keys, "http://127.0.0.1:9", "http://x/n", mchid="1900000200")
    with pytest.raises(NotificationRejected) as e:  # another merchant's APIv3 key
        other.parse_notification(headers, body, now_ms)
    assert e.value.reason == "undecryptable"


async def test_the_bill_lists_the_day_s_trades(pay: WechatPayProvider, sb: SandboxServer) -> None:
    await pay.codepay("c-1", 500, "Bread", auth_code=code("00", 1), store_id="s", device_id="t")
    await pay.codepay("c-2", 250, "Tea", auth_code=code("00", 2), store_id="s", device_id="t")
    await pay.refund("c-2", "r-1", 50, 250)
    await pay.native("n-1", 100, "Gum", expires_ms=in_a_minute())  # unpaid: not in the bill
    day = china_day(sb.sandbox.now_ms())
    rows = {r.out_trade_no: r for r in await pay.bill(day)}
    assert set(rows) == {"c-1", "c-2"}
    assert (rows["c-1"].state, rows["c-1"].amount_fen) == (TradeState.SUCCESS, 500)
    assert (rows["c-2"].state, rows["c-2"].refunded_fen) == (TradeState.REFUND, 50)
    assert await pay.bill(day - dt.timedelta(days=1)) == []
