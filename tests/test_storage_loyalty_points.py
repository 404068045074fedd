"""The points ledger on SQLite and PostgreSQL: exactly-once credits (also across concurrent
transactions and two controller processes), never-overdrawn redeems, reversals, returns."""

from __future__ import annotations

import asyncio

import pytest
from loyalty_fixtures import BRAND, T0, new_member, second_process, seed_brand
from storage_fixtures import db as db  # the fixture

from broker.storage import Database, NotFoundError
from broker.storage.loyalty_errors import InsufficientBalanceError, LedgerConflictError
from broker.storage.loyalty_records import Balance, LedgerEntry
from broker.storage.points import (
    balance,
    credit_order,
    list_points_entries,
    post_points,
    redeem_points,
    return_redeemed_points,
    reverse_order_points,
    verify_points_balances,
)
from broker.storage.purchases import get_purchase


async def credit(db: Database, member_id: str, order_id: str, points: int,
                 amount_fen: int = 10_000) -> tuple[LedgerEntry | None, bool]:
    return await credit_order(db, member_id=member_id, brand_id=BRAND, order_id=order_id,
                              amount_fen=amount_fen, points=points, paid_ms=T0,
                              store_id="sh-01")


async def test_credit_is_exactly_once(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    entry, created = await credit(db, member.member_id, "o-1", 100)
    assert created and entry is not None and entry.entry_id > 0 and entry.status == "posted"
    again, created = await credit(db, member.member_id, "o-1", 100)
    assert not created and again == entry
    assert await balance(db, member.member_id, BRAND) == Balance(100, 0)
    assert len(await list_points_entries(db, member.member_id, BRAND)) == 1
    purchase = await get_purchase(db, BRAND, "o-1")
    assert purchase is not None and purchase.amount_fen == 10_000
    # the same order with other points, or for another member, is a conflict
    with pytest.raises(LedgerConflictError):
        await credit(db, member.member_id, "o-1", 99)
    other = await new_member(db)
    with pytest.raises(LedgerConflictError):
        await credit(db, other.member_id, "o-1", 100)
    assert await verify_points_balances(db) == []


async def test_zero_points_records_the_purchase_only(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    assert await credit(db, member.member_id, "o-0", 0) == (None, True)
    assert await credit(db, member.member_id, "o-0", 0) == (None, False)
    assert await get_purchase(db, BRAND, "o-0") is not None
    assert await balance(db, member.member_id, BRAND) == Balance(0, 0)


async def test_credit_needs_membership(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "coffeeco")
    member = await new_member(db, "coffeeco")
    with pytest.raises(NotFoundError):
        await credit(db, member.member_id, "o-1", 10)
    with pytest.raises(NotFoundError):
        await balance(db, member.member_id, BRAND)
    assert await get_purchase(db, BRAND, "o-1") is None


async def test_20_concurrent_credits_of_one_order_make_one_entry(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    async with second_process(db) as other:
        results = await asyncio.gather(*(
            credit(db if i % 2 else other, member.member_id, "o-dup", 250) for i in range(20)))
    assert sum(created for _, created in results) == 1
    assert len({entry.entry_id for entry, _ in results if entry is not None}) == 1
    assert await balance(db, member.member_id, BRAND) == Balance(250, 0)
    assert len(await list_points_entries(db, member.member_id, BRAND)) == 1
    assert await verify_points_balances(db) == []


async def test_concurrent_credits_of_many_orders_all_count(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    async with second_process(db) as other:
        await asyncio.gather(*(credit(db if i % 2 else other, member.member_id, f"o-{i % 10}",
                                      10 + i % 10) for i in range(30)))
    assert await balance(db, member.member_id, BRAND) == Balance(sum(range(10, 20)), 0)
    assert await verify_points_balances(db) == []


async def test_redeem_checks_the_balance_and_is_idempotent(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100)
    entry, created = await redeem_points(db, member_id=member.member_id, brand_id=BRAND,
                                         points=60, ref="pa-1", order_id="o-2", now_ms=T0)
    assert created and entry.delta == -60
    again, created = await redeem_points(db, member_id=member.member_id, brand_id=BRAND,
                                         points=60, ref="pa-1", order_id="o-2", now_ms=T0)
    assert not created and again == entry
    with pytest.raises(InsufficientBalanceError) as info:
        await redeem_points(db, member_id=member.member_id, brand_id=BRAND, points=41,
                            ref="pa-2", now_ms=T0)
    assert (info.value.requested, info.value.available) == (41, 40)
    with pytest.raises(LedgerConflictError):
        await redeem_points(db, member_id=member.member_id, brand_id=BRAND, points=10,
                            ref="pa-1", order_id="o-2", now_ms=T0)
    assert await balance(db, member.member_id, BRAND) == Balance(40, 0)
    assert len(await list_points_entries(db, member.member_id, BRAND)) == 2  # nothing for pa-2


async def test_concurrent_redeems_never_overdraw(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100)

    async def redeem(target: Database, i: int) -> bool:
        try:
            await redeem_points(target, member_id=member.member_id, brand_id=BRAND, points=30,
                                ref=f"pa-{i}", now_ms=T0)
        except InsufficientBalanceError:
            return False
        return True

    async with second_process(db) as other:
        done = await asyncio.gather(*(redeem(db if i % 2 else other, i) for i in range(20)))
    assert sum(done) == 3
    assert await balance(db, member.member_id, BRAND) == Balance(10, 0)
    assert await verify_points_balances(db) == []


async def test_return_redeemed_points_once_then_ref_is_spent(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100)
    await redeem_points(db, member_id=member.member_id, brand_id=BRAND, points=70, ref="pa-1",
                        order_id="o-2", now_ms=T0)
    returned = await return_redeemed_points(db, brand_id=BRAND, ref="pa-1", now_ms=T0 + 1)
    assert returned is not None and returned[1] and returned[0].delta == 70
    again = await return_redeemed_points(db, brand_id=BRAND, ref="pa-1", now_ms=T0 + 2)
    assert again is not None and not again[1]
    assert await return_redeemed_points(db, brand_id=BRAND, ref="pa-none", now_ms=T0) is None
    assert await balance(db, member.member_id, BRAND) == Balance(100, 0)
    with pytest.raises(LedgerConflictError, match="new ref"):
        await redeem_points(db, member_id=member.member_id, brand_id=BRAND, points=70,
                            ref="pa-1", order_id="o-2", now_ms=T0)


async def test_refund_reversal_is_capped_and_may_go_negative(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100, amount_fen=10_000)
    await redeem_points(db, member_id=member.member_id, brand_id=BRAND, points=80, ref="pa-1",
                        now_ms=T0)
    first = await reverse_order_points(db, brand_id=BRAND, order_id="o-1", refund_ref="rf-1",
                                       points=60, order_refunded_fen=6_000, now_ms=T0 + 1)
    assert first is not None and first[1] and first[0].delta == -60
    repeat = await reverse_order_points(db, brand_id=BRAND, order_id="o-1", refund_ref="rf-1",
                                        points=60, order_refunded_fen=6_000, now_ms=T0 + 2)
    assert repeat is not None and repeat == (first[0], False)
    # the second refund asks more than is left of the 100 earned: only 40 are reversed
    second = await reverse_order_points(db, brand_id=BRAND, order_id="o-1", refund_ref="rf-2",
                                        points=70, order_refunded_fen=10_000, now_ms=T0 + 3)
    assert second is not None and second[0].delta == -40
    assert await reverse_order_points(db, brand_id=BRAND, order_id="o-1", refund_ref="rf-3",
                                      points=1, order_refunded_fen=10_000, now_ms=T0) is None
    assert await balance(db, member.member_id, BRAND) == Balance(-80, 0)  # 100 - 80 - 100
    purchase = await get_purchase(db, BRAND, "o-1")
    assert purchase is not None and purchase.refunded_fen == 10_000
    assert await reverse_order_points(db, brand_id=BRAND, order_id="o-none", refund_ref="rf-9",
                                      points=5, order_refunded_fen=100, now_ms=T0) is None
    assert await verify_points_balances(db) == []


async def test_post_points_adjust_and_expire(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    bonus = LedgerEntry(member.member_id, BRAND, 50, "adjust", "bonus-1", T0)
    stored, created = await post_points(db, bonus)
    assert created and stored.entry_id > 0
    with pytest.raises(InsufficientBalanceError):
        await post_points(db, LedgerEntry(member.member_id, BRAND, -51, "expire", "exp-1", T0))
    with pytest.raises(InsufficientBalanceError):
        await post_points(db, LedgerEntry(member.member_id, BRAND, -51, "adjust", "adj-1", T0))
    await post_points(db, LedgerEntry(member.member_id, BRAND, -50, "expire", "exp-1", T0))
    assert await balance(db, member.member_id, BRAND) == Balance(0, 0)
    with pytest.raises(ValueError, match="held"):
        await post_points(db, LedgerEntry(member.member_id, BRAND, 5, "adjust", "adj-2", T0,
                                          status="held"))
    with pytest.raises(NotFoundError):
        await post_points(db, LedgerEntry("m-00000000", BRAND, 5, "adjust", "adj-3", T0))
