"""Members at the till over MQTT: points as cash, a coupon, both given back when the order is
cancelled; a keyed-in order (attended mode); joining a second brand from an existing profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkout_fixtures import Shop, open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision, wait_until

from broker.loyalty.coupon_codes import new_code
from broker.mosquitto import ManagedBroker
from broker.storage import coupons as coupon_db
from broker.storage import members as member_db
from broker.storage import points as points_db
from broker.storage import signage
from broker.storage.loyalty_records import (
    LedgerEntry,
    MemberRecord,
    MembershipRecord,
    WalletIdentity,
    protect_phone,
)
from broker.storage.reward_records import CouponRecord
from broker.storage.signage_records import BrandRecord, token_sha256
from kiosk.agent.agent import KioskAgent

pytestmark = needs_mosquitto
DAY = 86_400_000


async def call(agent: KioskAgent, rpc: str, key: str | None = None, **params: Any) -> Any:
    return await agent.request(rpc, params, idempotency_key=key, timeout=10)


async def member_with_points(shop: Shop, points: int) -> MemberRecord:
    db = shop.c.db
    assert db is not None
    m = MemberRecord.new("Carol", now_ms(), phone=protect_phone("+8613700001111",
                                                                b"k" * 16))
    await member_db.create_member(db, m)
    await member_db.join_brand(db, MembershipRecord(m.member_id, "freshmart", now_ms()))
    await points_db.post_points(db, LedgerEntry(m.member_id, "freshmart", points, "adjust",
                                                "opening-balance", now_ms()))
    return m


async def test_points_and_coupon_at_the_till_and_back_on_cancel(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        db = shop.c.db
        assert db is not None
        agent = await run_agent(agent_for(await provision(shop.c, "till-07"), tmp_path / "t"))
        carol = await member_with_points(shop, 1_000)
        code = new_code(lambda n: bytes(range(7, 7 + n)))
        await coupon_db.issue_coupon(db, CouponRecord(
            code=code, brand_id="freshmart", kind="campaign", valid_from_ms=now_ms() - DAY,
            valid_to_ms=now_ms() + DAY, issued_ms=now_ms(), amount_off_fen=300,
            min_spend_fen=1000, issue_ref="spring"))

        order = await shop.order("till-07", amount_fen=2_000)
        r = await call(agent, "points.apply", "pts-00001", order_id=order.order_id,
                       member_id=carol.member_id, points=5_000)
        assert r.ok, r.error
        # 100 points = 1 yuan, at most half the order: 1,000 points asked for 20 yuan → 10 yuan
        assert r.result["order"]["discount_fen"] == 1_000
        assert r.result["order"]["points_used"] == 1_000
        assert (await points_db.balance(db, carol.member_id, "freshmart")).available == 0
        again = await call(agent, "points.apply", "pts-00002", order_id=order.order_id,
                           member_id=carol.member_id, points=100)
        assert not again.ok and again.error.code == "conflict"
        bad = await call(agent, "coupon.apply", "cpn-00000", order_id=order.order_id,
                         code=code[:-1] + ("0" if code[-1] != "0" else "1"))
        assert not bad.ok and bad.error.code == "bad_request"  # the check character caught it
        r = await call(agent, "coupon.apply", "cpn-00001", order_id=order.order_id,
                       code=code.lower())
        assert r.ok, r.error
        assert r.result["order"]["payable_fen"] == 700

        # the shopper walks away: points and coupon go back
        r = await call(agent, "checkout.cancel", "cnl-00001", order_id=order.order_id,
                       reason="shopper")
        assert r.ok and r.result["order"]["state"] == "closed"
        assert (await points_db.balance(db, carol.member_id, "freshmart")).available == 1_000
        coupon = await coupon_db.get_coupon(db, code)
        assert coupon is not None and coupon.state == "issued"


async def test_keypad_order_and_joining_a_second_brand_from_the_profile(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        db, c = shop.c.db, shop.c
        assert db is not None and c.checkout is not None
        await signage.create_brand(db, BrandRecord("teahouse", "Tea House",
                                                   token_sha256("th-token"), now_ms()))
        agent = await run_agent(agent_for(await provision(c, "till-08"), tmp_path / "t"))
        payer = (await shop.sandbox_post("/sandbox/payers", {"name": "Dan",
                                                             "balance_fen": 10**7}))["payer_id"]
        dan = MemberRecord.new("Dan", now_ms(), phone=protect_phone("+8613600002222",
                                                                    b"k" * 16))
        await member_db.create_member(db, dan)
        await member_db.join_brand(db, MembershipRecord(dan.member_id, "freshmart", now_ms()))
        await member_db.ensure_wallet_member(
            db, WalletIdentity(c.checkout.ctx.provider, c.checkout.ctx.app_id, payer), dan,
            now_ms())

        # attended mode: the cashier keys in 36.50 on the terminal
        r = await call(agent, "checkout.create", "key-00001", amount_fen=3_650,
                       brand_id="teahouse", note="2 x oolong")
        assert r.ok, r.error
        order = r.result["order"]
        assert order["store_id"] == "sh-01" and order["payable_fen"] == 3_650
        r = await call(agent, "checkout.pay", "pay-00001", order_id=order["order_id"],
                       method="native")
        await shop.sandbox_post("/sandbox/scan", {"code_url": r.result["attempt"]["code_url"],
                                                  "payer_id": payer, "approve": True})

        async def paid() -> bool:
            s = await call(agent, "checkout.status", order_id=order["order_id"])
            return bool(s.ok and s.result["order"]["state"] == "paid")
        await wait_until(paid, what="paid")

        offer = await call(agent, "member.offer", order_id=order["order_id"])
        assert offer.ok and offer.result["eligible"]
        profile = offer.result["profile"]
        assert profile["display_name"] == "Dan" and profile["masked_phone"] == "136****2222"
        assert profile["brands"] == ["freshmart"]
        joined = await call(agent, "member.join", "join-00001", order_id=order["order_id"],
                            confirm=True)
        assert joined.ok and joined.result["member_id"] == dan.member_id
        assert joined.result["points_credited"] == 36
        assert sorted(joined.result["profile"]["brands"]) == ["freshmart", "teahouse"]
