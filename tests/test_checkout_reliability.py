"""A randomized checkout run: 1,000 orders against a sandbox that times out, fails with 500s,
duplicates, delays and drops notifications, while the controller is restarted mid-payment.

What must hold afterwards (the issue's reliability bar):
- no double charge: at the provider, every order has at most its amount paid and not
  refunded, and exactly its amount when we say it is paid (0 when we say it is not);
- nothing left in between: every attempt final, no order open or paying;
- points credited exactly once per paid order of a member, and every cached balance equals
  the sum of its ledger entries;
- the day's reconciliation with the provider's bill balances.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from checkout_fixtures import Shop, open_shop
from conftest import needs_mosquitto, now_ms, wait_until
from sqlalchemy import func, select

from broker.mosquitto import ManagedBroker
from broker.payments.order_input import PayParams
from broker.payments.service import CheckoutError
from broker.storage import members as member_db
from broker.storage import payments as pay_db
from broker.storage import points as points_db
from broker.storage.loyalty_records import MemberRecord, MembershipRecord, WalletIdentity
from broker.storage.loyalty_schema import points_ledger
from broker.storage.payments_schema import orders, payment_attempts

pytestmark = [needs_mosquitto, pytest.mark.timeout(600)]

ORDERS = 1000
WAVE = 100
PAYERS = 12
FAULTS = {
    "seed": 7, "hang_ms": 1200,
    "endpoints": {name: {"error_rate": 0.06, "timeout_rate": 0.06}
                  for name in ("native", "codepay", "query", "close", "reverse", "refund")},
    "notifications": {"duplicate_rate": 0.3, "max_delay_ms": 400, "drop_rate": 0.15},
}
CODE_TAILS = ["00", "00", "91", "80", "81", "85"]  # paid, paid, paid after 1 s, refused...


async def enrol_payers(shop: Shop) -> list[str]:
    """Sandbox wallets whose owners are members of the brand already (points at once)."""
    db, ctx = shop.c.db, shop.c.checkout.ctx  # type: ignore[union-attr]
    assert db is not None
    payers = []
    for i in range(PAYERS):
        p = await shop.sandbox_post("/sandbox/payers", {"name": f"Payer {i}",
                                                         "balance_fen": 10**9})
        payer_id = p["payer_id"]
        member, _ = await member_db.ensure_wallet_member(
            db, WalletIdentity(ctx.provider, ctx.app_id, payer_id),
            MemberRecord.new(f"Payer {i}", now_ms()), now_ms())
        await member_db.join_brand(db, MembershipRecord(member.member_id, "freshmart",
                                                        now_ms()))
        payers.append(payer_id)
    return payers


async def shopper(shop: Shop, rng: random.Random, n: int, payers: list[str]) -> None:
    """One order, paid (or not) one random way; errors of a dying controller are expected."""
    try:
        c = shop.c
        assert c.payments is not None
        order = await shop.order("till-01", amount_fen=rng.randint(1, 50_000),
                                 key=f"rel-{n:06d}", category=rng.choice(["fresh", "dairy"]))
        payer = rng.choice(payers)
        if rng.random() < 0.55:
            params = PayParams(order_id=order.order_id, method="native")
        else:
            auth = (await shop.sandbox_post(f"/sandbox/payers/{payer}/codes",
                                            {"tail": rng.choice(CODE_TAILS)}))["auth_code"]
            params = PayParams(order_id=order.order_id, method="code", auth_code=auth)
        try:
            _, attempt = await c.payments.service.pay("till-01", params, f"k-{n:08d}")
        except CheckoutError:
            return  # refused, or unknown outcome: the sweeper takes it from here
        if params.method == "native" and attempt.code_url and rng.random() < 0.7:
            await asyncio.sleep(rng.random() * 0.5)
            await shop.admin.post(shop.sandbox.base_url + "/sandbox/scan", json={
                "code_url": attempt.code_url, "payer_id": payer,
                "approve": rng.random() < 0.9})
        if rng.random() < 0.05:  # the shopper walks away: the terminal cancels
            await c.payments.service.cancel(order.order_id)
    except Exception:  # the controller was restarted under this shopper: fine
        return


async def test_thousand_orders_with_faults_and_restarts(tmp_path: Path,
                                                        broker: ManagedBroker) -> None:
    rng = random.Random(20261123)
    async with open_shop(tmp_path, broker, provider_timeout_s=0.4, qr_ttl_s=6.0,
                         order_ttl_s=12.0) as shop:
        from conftest import provision
        await provision(shop.c, "till-01")
        payers = await enrol_payers(shop)
        r = await shop.admin.put(shop.sandbox.base_url + "/sandbox/faults", json=FAULTS)
        assert r.status_code == 200, r.text
        restarts = 0
        for wave in range(ORDERS // WAVE):
            shoppers = [asyncio.create_task(shopper(shop, rng, wave * WAVE + i, payers))
                        for i in range(WAVE)]
            if wave % 3 == 1:  # restart while this wave is in the middle of paying
                await asyncio.sleep(rng.uniform(0.2, 0.8))
                await shop.stop_controller()
                await asyncio.sleep(0.3)  # notifications meanwhile fail and are retried
                await shop.start_controller()
                restarts += 1
            await asyncio.gather(*shoppers)
        assert restarts >= 3

        # faults stay on: the sweeper has to get through them
        db = shop.c.db
        assert db is not None

        async def settled() -> bool:
            work = await pay_db.open_work_count(db)
            async with db.read() as conn:
                open_orders = (await conn.execute(select(func.count()).where(
                    orders.c.state.in_(("open", "paying"))))).scalar_one()
            return not any(work.values()) and open_orders == 0
        await wait_until(settled, timeout=120, what="every order and attempt final")

        async with db.read() as conn:
            all_orders = (await conn.execute(select(orders))).all()
            attempts = (await conn.execute(select(payment_attempts))).all()
            earns = (await conn.execute(select(points_ledger).where(
                points_ledger.c.kind == "earn"))).all()
        assert len(all_orders) == ORDERS

        # no double charge, and our books agree with the provider's
        book = shop.sandbox.sandbox.book
        book.advance(shop.sandbox.sandbox.now_ms())
        kept: dict[str, int] = defaultdict(int)
        for t in book.trades.values():
            order_id = t.out_trade_no.rsplit("-", 1)[0]
            if t.success_ms is not None:  # money moved; refunds and reversals gave some back
                kept[order_id] += t.amount_fen - t.refunded_fen - t.returned_fen
            assert t.pending_refund_fen == 0
        paid_orders = {o.order_id: o for o in all_orders if o.paid_trade_no}
        for o in all_orders:
            want = (o.amount_fen - o.discount_fen - o.refunded_fen) if o.paid_trade_no else 0
            assert kept.get(o.order_id, 0) == want, (o.order_id, o.state, kept.get(o.order_id))
        assert all(a.state in ("paid", "failed", "closed", "reversed") for a in attempts)
        states = Counter((a.method, a.state, a.error) for a in attempts)
        assert len(paid_orders) > ORDERS // 4, states.most_common(12)  # money was taken

        # points: once per paid order (every payer is a member), as many as the rules give,
        # and every cached balance equals the sum of its entries
        credited: dict[str, list[int]] = defaultdict(list)
        for e in earns:
            credited[e.order_id].append(e.delta)
        assert set(credited) <= set(paid_orders)
        settlement = shop.c.checkout.settlement  # type: ignore[union-attr]
        for order_id in paid_orders:
            record = await pay_db.get_order(db, order_id)
            assert record is not None
            base = await settlement.points_for(record, "member")  # tiers only add to it
            got = credited.get(order_id, [])
            assert len(got) == 1 if base else len(got) <= 1, (order_id, base, got)
            assert sum(got) >= base, (order_id, base, got)
        assert await points_db.verify_points_balances(db) == []

        assert shop.c.payments is not None
        report = await shop.c.payments.reconcile(dt.datetime.now(
            dt.timezone(dt.timedelta(hours=8))).date())
        assert report.balanced, report.discrepancies[:5]
