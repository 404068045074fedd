"""The member and loyalty HTTP API on a real shop (Mosquitto, sandbox WeChat Pay, controller
and its HTTP server): RFM segments and coupon campaigns, receipt QR codes claimed over MQTT,
fraud review of impossible travel, the console's member view."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import httpx
import numpy as np
from checkout_fixtures import Shop, open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision, wait_until
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from loyalty_fixtures import PHONE_KEY, new_member

from broker import storage
from broker.loyalty import receipt_token
from broker.members.context import MemberContext
from broker.mosquitto import ManagedBroker
from broker.payments.order_input import NewOrder
from broker.storage import Database
from broker.storage import coupons as coupon_db
from broker.storage import members as member_db
from broker.storage import points as points_db
from broker.storage.loyalty_records import MemberRecord, protect_phone
from broker.storage.signage_records import BrandRecord, token_sha256
from broker.storage.store_geo import set_store_location
from kiosk.agent.agent import KioskAgent

pytestmark = needs_mosquitto
ADMIN = {"Authorization": "Bearer test-admin-token"}
BRAND_TOKEN = {"Authorization": "Bearer fm-token"}  # freshmart's operator (checkout_fixtures)
DAY = 86_400_000
# a Monday noon in Shanghai: no double-points day, 1 point per yuan
MONDAY = int(datetime(2025, 3, 3, 12, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()) * 1000


@asynccontextmanager
async def client(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    assert shop.http is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{shop.http.port}",
                                 timeout=20) as c:
        yield c


def member_ctx(shop: Shop) -> MemberContext:
    assert shop.c.checkout is not None
    return shop.c.checkout.ctx


def db_of(shop: Shop) -> Database:
    assert shop.c.db is not None
    return shop.c.db


def set_clock(shop: Shop, ms: int) -> None:
    member_ctx(shop).clock = lambda: ms / 1000


async def call(agent: KioskAgent, rpc: str, key: str | None = None,
               **params: Any) -> dict[str, Any]:
    r = await agent.request(rpc, params, idempotency_key=key, timeout=10)
    assert r.ok, r.error
    assert r.result is not None
    return r.result


async def refused(agent: KioskAgent, rpc: str, **params: Any) -> str:
    r = await agent.request(rpc, params, timeout=10)
    assert not r.ok and r.error is not None
    return r.error.code


# ---- segments and campaigns ----------------------------------------------------------------


async def shop_with_segments(db: Database, now: int) -> dict[str, str]:
    """One member per segment, two lost (one never bought): ids by name."""
    plan = {  # name: (days since the last purchase, purchases, spend per purchase in fen)
        "champion": (1, 10, 50_000), "newcomer": (5, 1, 2_000), "lapsing": (60, 6, 50_000),
        "dozing": (100, 1, 50_000), "gone": (200, 3, 26_000), "never": (0, 0, 0)}
    ids: dict[str, str] = {}
    for name, (days, count, fen) in plan.items():
        member = await new_member(db)
        ids[name] = member.member_id
        for i in range(count):
            await points_db.credit_order(
                db, member_id=member.member_id, brand_id="freshmart",
                order_id=f"seed-{name}-{i}", amount_fen=fen, points=fen // 100,
                paid_ms=now - days * DAY - i * 3_600_000)
    return ids


async def test_segments_and_a_coupon_campaign_to_one_segment(tmp_path: Path,
                                                             broker: ManagedBroker) -> None:
    async with open_shop(tmp_path, broker) as shop, client(shop) as http:
        db = db_of(shop)
        set_clock(shop, MONDAY)
        ids = await shop_with_segments(db, MONDAY)
        await storage.signage.create_brand(db, BrandRecord(
            "bakery", "Bakery", token_sha256("bk-token"), now_ms()))

        r = await http.get("/api/brands/freshmart/segments", headers=BRAND_TOKEN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["members"] == 6 and body["as_of_ms"] == MONDAY
        assert body["segments"] == {"champions": 1, "active": 1, "at_risk": 1,
                                    "sleeping": 1, "lost": 2}
        assert (await http.get("/api/brands/freshmart/segments", headers=ADMIN)).status_code \
            == 200
        other = {"Authorization": "Bearer bk-token"}
        assert (await http.get("/api/brands/freshmart/segments", headers=other)).status_code \
            == 403
        assert (await http.get("/api/brands/freshmart/segments")).status_code == 401
        assert (await http.get("/api/brands/nobody/segments", headers=ADMIN)).status_code \
            == 404

        campaign = {"campaign_id": "winback-2025-03", "segment": "lost",
                    "value": {"amount_off_fen": 1500}, "min_spend_fen": 5000, "valid_days": 14}
        r = await http.post("/api/brands/freshmart/coupon-campaigns", json=campaign,
                            headers=BRAND_TOKEN)
        assert r.status_code == 200, r.text
        assert r.json() == {"campaign_id": "winback-2025-03", "segment": "lost", "members": 2,
                            "issued": 2, "already_issued": 0}
        for name in ("gone", "never"):
            got = await coupon_db.list_member_coupons(db, ids[name], "freshmart")
            assert [(c.kind, c.amount_off_fen, c.min_spend_fen, c.issue_ref) for c in got] == [
                ("campaign", 1500, 5000, f"winback-2025-03:{ids[name]}")]
            assert got[0].valid_to_ms == MONDAY + 14 * DAY
        assert await coupon_db.list_member_coupons(db, ids["champion"]) == []

        again = await http.post("/api/brands/freshmart/coupon-campaigns", json=campaign,
                                headers=BRAND_TOKEN)
        assert again.status_code == 200 and again.json()["issued"] == 0
        assert again.json()["already_issued"] == 2
        changed = campaign | {"value": {"percent_off": 20, "max_off_fen": 3000}}
        r = await http.post("/api/brands/freshmart/coupon-campaigns", json=changed,
                            headers=BRAND_TOKEN)
        assert r.status_code == 409  # the same campaign id with other terms

        r = await http.post("/api/brands/freshmart/coupon-campaigns", headers=BRAND_TOKEN,
                            json=changed | {"campaign_id": "vip-thanks", "segment": "champions"})
        assert r.json()["issued"] == 1
        got = await coupon_db.list_member_coupons(db, ids["champion"])
        assert [(c.percent_off, c.max_off_fen) for c in got] == [(20, 3000)]
        bad = campaign | {"value": {"percent_off": 100, "max_off_fen": 1}}
        assert (await http.post("/api/brands/freshmart/coupon-campaigns", json=bad,
                                headers=BRAND_TOKEN)).status_code == 422
        assert (await http.post("/api/brands/freshmart/coupon-campaigns", json=campaign,
                                headers=other)).status_code == 403


# ---- receipt QR ----------------------------------------------------------------------------


def read_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    # OpenCV's classic detector misses ~7% of clean codes of this size (measured: 20 of 300
    # random tokens); the ArUco-based one read all of those
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        text, _, _ = detector.detectAndDecode(image)
        if text:
            return str(text)
    return ""


async def test_a_receipt_qr_gives_points_once(tmp_path: Path, broker: ManagedBroker,
                                             run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop, client(shop) as http:
        db = db_of(shop)
        agent = await run_agent(agent_for(await provision(shop.c, "till-01"), tmp_path / "t1"))
        set_clock(shop, MONDAY)
        buyer = MemberRecord.new("Cash Buyer", MONDAY)
        await member_db.create_member(db, buyer)
        receipt = {"brand_id": "freshmart", "store_id": "sh-01", "order_ref": "POS-0001",
                   "amount_fen": 8_850, "ttl_s": 600}

        assert (await http.post("/api/receipts", json=receipt)).status_code == 401
        r = await http.post("/api/receipts", json=receipt, headers=ADMIN)
        assert r.status_code == 200, r.text
        issued = r.json()
        assert issued["expires_ms"] == MONDAY + 600_000
        png = base64.b64decode(issued["qr_png_base64"])
        assert read_qr(png) == issued["token"]  # the printed code scans back to the token

        claimed = await call(agent, "receipt.claim", token=issued["token"],
                             member_id=buyer.member_id)
        assert claimed["points_credited"] == 88 and claimed["balance"] == 88
        assert claimed["joined"]  # scanning a brand's receipt joins it
        assert await refused(agent, "receipt.claim", token=issued["token"],
                             member_id=buyer.member_id) == "already_claimed"
        reprint = (await http.post("/api/receipts", json=receipt, headers=ADMIN)).json()
        assert await refused(agent, "receipt.claim", token=reprint["token"],
                             member_id=buyer.member_id) == "already_claimed"

        prefix, payload, signature = issued["token"].split(".")
        swapped = payload[:20] + ("A" if payload[20] != "A" else "B") + payload[21:]
        assert await refused(agent, "receipt.claim", token=f"{prefix}.{swapped}.{signature}",
                             member_id=buyer.member_id) == "invalid_token"
        forged = receipt_token.issue(
            Ed25519PrivateKey.generate(), key_id="k1", brand_id="freshmart", store_id="sh-01",
            order_ref="POS-0666", amount_fen=10**6, issued_ms=MONDAY, ttl_ms=600_000,
            random_bytes=lambda n: b"\x01" * n)
        assert await refused(agent, "receipt.claim", token=forged,
                             member_id=buyer.member_id) == "invalid_token"

        late = (await http.post("/api/receipts", headers=ADMIN,
                                json=receipt | {"order_ref": "POS-0002", "ttl_s": 60})).json()
        set_clock(shop, MONDAY + 60_000)  # the receipt's last moment has passed
        assert await refused(agent, "receipt.claim", token=late["token"],
                             member_id=buyer.member_id) == "expired"
        assert (await points_db.balance(db, buyer.member_id, "freshmart")).available == 88

        unknown_store = receipt | {"store_id": "nowhere"}
        assert (await http.post("/api/receipts", json=unknown_store,
                                headers=ADMIN)).status_code == 404
        assert (await http.post("/api/receipts", json=receipt | {"amount_fen": 0},
                                headers=ADMIN)).status_code == 422


# ---- fraud review --------------------------------------------------------------------------


async def pay_and_wait(shop: Shop, agent: KioskAgent, order_id: str, key: str) -> None:
    res = await call(agent, "checkout.pay", key, order_id=order_id, method="native")
    await shop.sandbox_post("/sandbox/scan", {"code_url": res["attempt"]["code_url"],
                                              "approve": True})  # the sandbox's one payer

    async def paid() -> bool:
        state = (await call(agent, "checkout.status", order_id=order_id))["order"]["state"]
        return bool(state == "paid")
    await wait_until(paid, what=f"order {order_id} paid")


async def test_one_wallet_in_shanghai_and_beijing_minutes_apart_holds_the_points(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop, client(shop) as http:
        db = db_of(shop)
        assert shop.c.payments is not None
        await storage.upsert_store(db, storage.StoreRecord(
            store_id="bj-01", name="Beijing One", city="Beijing", district="Chaoyang",
            format="supermarket", footfall_tier=3, timezone="Asia/Shanghai",
            created_ms=now_ms()))
        await set_store_location(db, "sh-01", 31.23, 121.47)
        await set_store_location(db, "bj-01", 39.90, 116.40)
        sh = await run_agent(agent_for(await provision(shop.c, "till-sh", "sh-01"),
                                       tmp_path / "sh"))
        bj = await run_agent(agent_for(await provision(shop.c, "till-bj", "bj-01"),
                                       tmp_path / "bj"))

        first = await shop.order("till-sh", amount_fen=5_000)
        await pay_and_wait(shop, sh, first.order_id, "pay-sh-0001")
        joined = await call(sh, "member.join", "join-sh-0001", order_id=first.order_id,
                            confirm=True)
        member_id: str = joined["member_id"]
        first_points: int = joined["points_credited"]
        assert first_points > 0

        second, _ = await shop.c.payments.create_order(NewOrder(
            store_id="bj-01", device_id="till-bj", brand_id="freshmart",
            items=[{"sku": "B1", "name": "Duck", "qty": 1, "unit_fen": 12_000}],  # type: ignore[list-item]
            idempotency_key="pos-bj-0001"))
        await pay_and_wait(shop, bj, second.order_id, "pay-bj-0001")

        async def held() -> bool:
            return (await points_db.balance(db, member_id, "freshmart")).held > first_points
        await wait_until(held, what="the Beijing order's points credited and held")
        bal = await points_db.balance(db, member_id, "freshmart")
        assert bal.available == 0  # both orders' points wait for the review
        second_points = bal.held - first_points

        assert (await http.get("/api/fraud-flags")).status_code == 401
        flags = (await http.get("/api/fraud-flags", headers=ADMIN)).json()["flags"]
        assert len(flags) == 1
        flag = flags[0]
        assert flag["status"] == "open" and 1000 < flag["km"] < 1150
        assert flag["order"]["order_id"] == second.order_id
        assert flag["order"]["store_id"] == "bj-01"
        assert flag["order"]["earned"] == {"points": second_points, "status": "held"}
        assert flag["prior_order"]["order_id"] == first.order_id

        r = await http.post(f"/api/fraud-flags/{flag['flag_id']}", headers=ADMIN,
                            json={"decision": "cleared", "note": "flew? no: two phones, "
                                                                 "one account, family"})
        assert r.status_code == 200, r.text
        assert r.json()["flag"]["status"] == "cleared"
        assert r.json()["flag"]["order"]["earned"]["status"] == "posted"
        bal = await points_db.balance(db, member_id, "freshmart")
        assert (bal.available, bal.held) == (first_points + second_points, 0)

        again = await http.post(f"/api/fraud-flags/{flag['flag_id']}", headers=ADMIN,
                                json={"decision": "cleared"})
        assert again.status_code == 200
        assert (await http.post(f"/api/fraud-flags/{flag['flag_id']}", headers=ADMIN,
                                json={"decision": "confirmed"})).status_code == 409
        assert (await http.post("/api/fraud-flags/999999", headers=ADMIN,
                                json={"decision": "cleared"})).status_code == 404
        assert (await http.get("/api/fraud-flags", headers=ADMIN)).json()["flags"] == []
        closed = (await http.get("/api/fraud-flags?status=cleared", headers=ADMIN)).json()
        assert [f["flag_id"] for f in closed["flags"]] == [flag["flag_id"]]


# ---- the console's member view -------------------------------------------------------------


async def test_the_member_view_shows_balances_tiers_and_coupons_but_only_a_masked_phone(
        tmp_path: Path, broker: ManagedBroker) -> None:
    async with open_shop(tmp_path, broker) as shop, client(shop) as http:
        db = db_of(shop)
        set_clock(shop, MONDAY)
        member = await new_member(db, "freshmart", phone="+8613812345678", birthday="07-14")
        mid = member.member_id
        await points_db.credit_order(db, member_id=mid, brand_id="freshmart", order_id="o-a",
                                     amount_fen=25_000, points=250, paid_ms=MONDAY - 30 * DAY)
        await points_db.redeem_points(db, member_id=mid, brand_id="freshmart", points=50,
                                      ref="pay:o-b", now_ms=MONDAY - DAY)
        await member_db.set_tier(db, mid, "freshmart", "silver", MONDAY + 300 * DAY)
        campaign = {"campaign_id": "everyone", "segment": "active",
                    "value": {"amount_off_fen": 500}}
        await http.post("/api/brands/freshmart/coupon-campaigns", json=campaign, headers=ADMIN)

        assert (await http.get(f"/api/members/{mid}")).status_code == 401
        assert (await http.get(f"/api/members/{mid}", headers=BRAND_TOKEN)).status_code == 401
        r = await http.get(f"/api/members/{mid}", headers=ADMIN)
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["member"]["masked_phone"] == "138****5678"
        hmac_hex = protect_phone("+8613812345678", PHONE_KEY).phone_hmac
        assert "phone_hmac" not in r.text and "phone_last4" not in r.text
        assert hmac_hex not in r.text and "13812345678" not in r.text
        [m] = view["memberships"]
        assert (m["brand_id"], m["tier"], m["points"]) == ("freshmart", "silver",
                                                           {"available": 200, "held": 0})
        assert [(e["kind"], e["delta"]) for e in m["entries"]] == [("redeem", -50),
                                                                    ("earn", 250)]
        expires = int(datetime(2027, 3, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()) * 1000
        assert m["expiring"] == [{"expires_ms": expires, "points": 200}]
        assert [(c["kind"], c["state"], c["amount_off_fen"]) for c in view["coupons"]] == [
            ("campaign", "issued", 500)]
        assert (await http.get("/api/members/m-000000000000", headers=ADMIN)).status_code \
            == 404
