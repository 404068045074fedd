"""The sandbox server on a free port: request signatures enforced, responses signed, the wallet
page pays and the merchant receives a verifiable notification, faults and the admin API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from payments_sandbox_fixtures import FAST, Receiver, running_receiver, v3, wait_for

from broker.payments import wechat_crypto as wc
from broker.payments.sandbox import SandboxServer, wallet_url
from broker.payments.sandbox.keys import SandboxKeys, generate, load_or_create

NATIVE = "/v3/pay/transactions/native"


@pytest.fixture(scope="module")
def keys() -> SandboxKeys:
    return generate()


@pytest.fixture
async def sb(keys: SandboxKeys) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(keys, config=FAST) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


def order(keys: SandboxKeys, no: str, notify_url: str, fen: int = 1300) -> dict:
    m = keys.primary
    return {"appid": m.appid, "mchid": m.mchid, "description": "Milk 2x", "out_trade_no": no,
            "notify_url": notify_url, "amount": {"total": fen, "currency": "CNY"}}


def open_notification(keys: SandboxKeys, headers: dict[str, str], body: bytes) -> dict:
    """What a merchant does: check the platform signature, then decrypt the resource."""
    platform = wc.load_public_key(keys.platform_public_key)
    assert wc.verify_signed(headers, body, platform, now_s=int(time.time()))
    assert headers["wechatpay-serial"] == keys.public_key_id
    data = orjson.loads(body)
    return {**data, "resource": orjson.loads(wc.decrypt_resource(keys.primary.apiv3_key,
                                                                 data["resource"]))}


async def test_unsigned_stale_or_foreign_requests_get_401(sb: SandboxServer, keys: SandboxKeys,
                                                          client: httpx.AsyncClient) -> None:
    body = order(keys, "n-1", "http://127.0.0.1:9/notify")
    r = await client.post(sb.base_url + NATIVE, json=body)
    assert r.status_code == 401 and r.json()["code"] == "SIGN_ERROR"
    r = await v3(client, sb, keys.primary, "POST", NATIVE, body,
                 timestamp_s=int(time.time()) - 600)
    assert r.status_code == 401
    stranger = generate(["1900000109"]).primary  # same mchid, another key
    assert (await v3(client, sb, stranger, "POST", NATIVE, body)).status_code == 401
    r = await v3(client, sb, keys.primary, "GET", "/v3/pay/transactions/out-trade-no/n-1"
                 f"?mchid={keys.primary.mchid}")
    assert r.status_code == 404 and r.json()["code"] == "ORDER_NOT_EXIST"  # nothing was created


async def test_signed_requests_get_signed_answers(sb: SandboxServer, keys: SandboxKeys,
                                                  client: httpx.AsyncClient) -> None:
    r = await v3(client, sb, keys.primary, "POST", NATIVE, order(keys, "n-2", "http://x/n"))
    assert r.status_code == 200 and r.json()["code_url"].startswith("weixin://wxpay/")
    platform = wc.load_public_key(keys.platform_public_key)
    assert wc.verify_signed(r.headers, r.content, platform, now_s=int(time.time()))
    assert not wc.verify_signed(r.headers, r.content.replace(b"weixin", b"evil"), platform,
                                now_s=int(time.time()))


async def test_the_wallet_page_pays_and_the_merchant_is_notified(
        sb: SandboxServer, keys: SandboxKeys, client: httpx.AsyncClient,
        receiver: Receiver) -> None:
    r = await v3(client, sb, keys.primary, "POST", NATIVE, order(keys, "n-3", receiver.url))
    code_url = r.json()["code_url"]
    page = await client.get(wallet_url(sb.base_url, code_url))
    assert page.status_code == 200
    for text in ("¥13.00", "Milk 2x", keys.primary.name, "Pay ¥13.00", "Decline"):
        assert text in page.text
    declined = await client.post(sb.base_url + "/wallet",
                                 data={"code_url": code_url, "action": "decline"})
    assert "declined" in declined.text and receiver.received == []
    paid = await client.post(sb.base_url + "/wallet", data={
        "code_url": code_url, "payer_id": "o-sbx-default", "action": "pay"})
    assert paid.status_code == 200 and "Paid ¥13.00" in paid.text
    await wait_for(lambda: receiver.received)
    note = open_notification(keys, *receiver.received[0])
    assert note["event_type"] == "TRANSACTION.SUCCESS"
    res = note["resource"]
    assert (res["out_trade_no"], res["trade_state"], res["amount"]["total"], res["mchid"]) == \
        ("n-3", "SUCCESS", 1300, keys.primary.mchid)
    again = await client.get(wallet_url(sb.base_url, code_url))
    assert "SUCCESS" in again.text and "Decline" not in again.text  # no second payment offered


async def test_a_failed_notification_is_retried_until_acknowledged(
        sb: SandboxServer, keys: SandboxKeys, client: httpx.AsyncClient,
        receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    r = await v3(client, sb, keys.primary, "POST", NATIVE, order(keys, "n-4", receiver.url))
    await client.post(sb.base_url + "/sandbox/scan", json={"code_url": r.json()["code_url"]})
    await wait_for(lambda: len(receiver.received) == 3)
    ids = {orjson.loads(body)["id"] for _, body in receiver.received}
    assert len(ids) == 1  # the same notification each time
    log = (await client.get(sb.base_url + "/sandbox/notifications?out_trade_no=n-4")).json()
    assert log["notifications"][0]["results"] == ["500", "503", "204"]


async def test_notification_faults_duplicate_and_drop(
        sb: SandboxServer, keys: SandboxKeys, client: httpx.AsyncClient,
        receiver: Receiver) -> None:
    r = await client.put(sb.base_url + "/sandbox/faults",
                         json={"notifications": {"script": ["duplicate", "drop"]}})
    assert r.status_code == 200
    for no in ("n-5", "n-6"):
        r = await v3(client, sb, keys.primary, "POST", NATIVE, order(keys, no, receiver.url))
        await client.post(sb.base_url + "/sandbox/scan", json={"code_url": r.json()["code_url"]})
    await wait_for(lambda: len(receiver.received) == 3)
    nos = sorted(open_notification(keys, *d)["resource"]["out_trade_no"]
                 for d in receiver.received)
    assert nos == ["n-5", "n-5", "n-6"]
    log = {d["out_trade_no"]: d for d in
           (await client.get(sb.base_url + "/sandbox/notifications")).json()["notifications"]}
    assert log["n-6"]["results"] == ["dropped", "204"]


async def test_a_500_fault_has_no_effect(sb: SandboxServer, keys: SandboxKeys,
                                         client: httpx.AsyncClient) -> None:
    await client.put(sb.base_url + "/sandbox/faults",
                     json={"endpoints": {"native": {"script": ["error"]}}})
    r = await v3(client, sb, keys.primary, "POST", NATIVE, order(keys, "n-7", "http://x/n"))
    assert r.status_code == 500 and r.json()["code"] == "SYSTEM_ERROR"
    trades = (await client.get(sb.base_url + "/sandbox/trades")).json()["trades"]
    assert "n-7" not in {t["out_trade_no"] for t in trades}
    bad = await client.put(sb.base_url + "/sandbox/faults", json={"endpoints": {"x": {}}})
    assert bad.status_code == 400 and bad.json()["code"] == "PARAM_ERROR"


async def test_admin_payers_codes_and_the_business_clock(sb: SandboxServer, keys: SandboxKeys,
                                                         client: httpx.AsyncClient) -> None:
    r = await client.post(sb.base_url + "/sandbox/payers",
                          json={"name": "Wang", "balance_fen": 400})
    payer = r.json()
    assert r.status_code == 201 and payer["balance_fen"] == 400
    code = (await client.post(sb.base_url + f"/sandbox/payers/{payer['payer_id']}/codes",
                              json={"tail": "93"})).json()["auth_code"]
    m = keys.primary
    r = await v3(client, sb, m, "POST", "/v3/pay/transactions/codepay", {
        "appid": m.appid, "mchid": m.mchid, "description": "Tea", "out_trade_no": "c-1",
        "amount": {"total": 300}, "payer": {"auth_code": code},
        "scene_info": {"store_info": {"out_id": "sh-01"}}})
    assert r.status_code == 202 and r.json()["code"] == "USERPAYING"
    now = (await client.post(sb.base_url + "/sandbox/clock", json={"advance_ms": 3_000})).json()
    assert now["now_ms"] > 0
    payers = {p["payer_id"]: p for p in (await client.get(sb.base_url + "/sandbox/payers")).json()}
    assert payers[payer["payer_id"]]["balance_fen"] == 100
    bad = await client.post(sb.base_url + "/sandbox/payers", json={"name": "x"})
    assert bad.status_code == 400


def test_keys_are_created_once_and_reused(tmp_path) -> None:
    first = load_or_create(tmp_path / "keys")
    assert load_or_create(tmp_path / "keys") == first
    both = load_or_create(tmp_path / "keys", ["1900000109", "1900000200"])
    assert both.primary == first.primary and both.merchant("1900000200") is not None
    assert (tmp_path / "keys" / "platform_key.pem").stat().st_mode & 0o777 == 0o600
