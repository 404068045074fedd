"""Face pay's charge path: stored value or a wallet agreement, and the second factor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkout_fixtures import open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision

from broker.mosquitto import ManagedBroker
from broker.storage import members as member_db
from broker.storage import points as points_db
from broker.storage import stored_value as sv_db
from broker.storage.loyalty_records import (
    MemberRecord,
    MembershipRecord,
    StoredValueEntry,
    protect_phone,
)

pytestmark = needs_mosquitto
KEY = b"test-phone-key-0123456789"
CLOSE = {"distance": 0.30, "margin": 0.20, "gallery_size": 50}


async def test_face_pay_from_stored_value_and_agreement_with_second_factor(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        db, c = shop.c.db, shop.c
        assert db is not None and c.checkout is not None
        agent = await run_agent(agent_for(await provision(c, "till-05"), tmp_path / "t"))
        alice = MemberRecord.new("Alice", now_ms(), phone=protect_phone("+8613800005678", KEY))
        bob = MemberRecord.new("Bob", now_ms(), phone=protect_phone("+8613900001234", KEY))
        for m in (alice, bob):
            await member_db.create_member(db, m)
            await member_db.join_brand(db, MembershipRecord(m.member_id, "freshmart", now_ms()))
        await sv_db.post_stored_value(db, StoredValueEntry(alice.member_id, 50_000, "topup",
                                                           "topup-1", now_ms()))
        payer = await shop.sandbox_post("/sandbox/payers", {"name": "Bob",
                                                            "balance_fen": 10**7})
        contract = await shop.sandbox_post("/sandbox/contracts", {
            "mchid": c.payments.provider.merchant_id, "payer_id": payer["payer_id"]})  # type: ignore[union-attr]
        await c.checkout.wallets.set_agreement(bob.member_id, "sandbox",
                                               contract["contract_id"])

        async def pay(order_id: str, member_id: str, key: str, **extra: Any) -> Any:
            return await agent.request("checkout.pay", {
                "order_id": order_id, "method": "face",
                "face": {"member_id": member_id, **CLOSE, **extra.pop("face", {})},
                **extra}, idempotency_key=key)

        small = await shop.order("till-05", amount_fen=3_000)
        r = await pay(small.order_id, alice.member_id, "face-0001")
        assert r.ok and r.result["attempt"]["state"] == "paid"  # type: ignore[index]
        assert r.result["attempt"]["method"] == "face_balance"  # type: ignore[index]
        assert await sv_db.stored_value_balance(db, alice.member_id) == 47_000

        # above the limit: the last four digits of the phone are asked, and checked
        big = await shop.order("till-05", amount_fen=25_000)
        r = await pay(big.order_id, alice.member_id, "face-0002")
        assert not r.ok and r.error.code == "second_factor_required"  # type: ignore[union-attr]
        r = await pay(big.order_id, alice.member_id, "face-0003", phone_last4="0000")
        assert not r.ok and r.error.code == "second_factor_required"  # type: ignore[union-attr]
        assert "do not match" in r.error.message  # type: ignore[union-attr]
        r = await pay(big.order_id, alice.member_id, "face-0004", phone_last4="5678")
        assert r.ok and r.result["order"]["state"] == "paid"  # type: ignore[index]
        assert await sv_db.stored_value_balance(db, alice.member_id) == 22_000

        # a narrow margin over the runner-up also asks; a far match is refused outright
        third = await shop.order("till-05", amount_fen=1_000)
        r = await pay(third.order_id, alice.member_id, "face-0005", face={"margin": 0.02})
        assert not r.ok and r.error.code == "second_factor_required"  # type: ignore[union-attr]
        r = await pay(third.order_id, alice.member_id, "face-0006", face={"distance": 0.58})
        assert not r.ok and r.error.code == "declined"  # type: ignore[union-attr]

        # Bob has no stored value: his wallet agreement is charged at the provider
        bobs = await shop.order("till-05", amount_fen=4_200, category="fresh")
        r = await pay(bobs.order_id, bob.member_id, "face-0007")
        assert r.ok, r.error
        assert r.result["attempt"]["method"] == "face_agreement"  # type: ignore[index]
        assert r.result["order"]["state"] == "paid"  # type: ignore[index]

        async def bob_points() -> int:
            return (await points_db.balance(db, bob.member_id, "freshmart")).available
        from conftest import wait_until
        await wait_until(lambda: bob_points(), what="points for the agreement payment")
        assert await bob_points() == 84
