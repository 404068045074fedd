"""Credential uses, fraud flags and held points; stored value; RFM inputs (both engines)."""

from __future__ import annotations

import asyncio

import pytest
from loyalty_fixtures import BRAND, T0, new_member, second_process, seed_brand
from storage_fixtures import db as db  # the fixture

from broker.storage import Database, NotFoundError
from broker.storage.fraud import (
    get_fraud_flag,
    last_use,
    list_fraud_flags,
    raise_fraud_flag,
    record_credential_use,
    resolve_fraud_flag,
)
from broker.storage.loyalty_errors import InsufficientBalanceError, LedgerConflictError
from broker.storage.loyalty_records import Balance, RfmRow, StoredValueEntry
from broker.storage.points import (
    balance,
    credit_order,
    hold_order_points,
    redeem_points,
    release_order_points,
    reverse_order_points,
    verify_points_balances,
    void_order_points,
)
from broker.storage.purchases import rfm_inputs
from broker.storage.reward_records import CredentialUse, FraudFlag
from broker.storage.stored_value import (
    list_stored_value_entries,
    post_stored_value,
    stored_value_balance,
    verify_stored_value_balances,
)

CRED = "c" * 64
OTHER_CRED = "d" * 64


async def credit(db: Database, member_id: str, order_id: str, points: int,
                 amount_fen: int = 1_000, paid_ms: int = T0) -> None:
    await credit_order(db, member_id=member_id, brand_id=BRAND, order_id=order_id,
                       amount_fen=amount_fen, points=points, paid_ms=paid_ms)


async def test_credential_uses_and_last_use(db: Database) -> None:
    assert await record_credential_use(db, CredentialUse(CRED, "sh-01", T0, "o-1"))
    assert not await record_credential_use(db, CredentialUse(CRED, "sh-01", T0, "o-1"))
    await record_credential_use(db, CredentialUse(CRED, "bj-01", T0 + 600_000, "o-2"))
    await record_credential_use(db, CredentialUse(OTHER_CRED, "gz-01", T0 + 900_000, "o-3"))
    latest = await last_use(db, CRED)
    assert latest == CredentialUse(CRED, "bj-01", T0 + 600_000, "o-2")
    assert await last_use(db, CRED, exclude_order_id="o-2") == CredentialUse(
        CRED, "sh-01", T0, "o-1")
    assert await last_use(db, CRED, before_ms=T0 - 1) is None
    assert await last_use(db, "e" * 64) is None
    # two stores at the same millisecond: the travel rule reports an infinite speed
    flag, _ = await raise_fraud_flag(db, FraudFlag(CRED, "o-2", "o-1", 1_070.5, float("inf"),
                                                   T0 + 600_000))
    assert await get_fraud_flag(db, flag.flag_id) == flag


async def test_flag_holds_then_clear_releases(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100)
    await credit(db, member.member_id, "o-2", 50)
    await credit(db, member.member_id, "o-3", 7)
    flag = FraudFlag(CRED, "o-2", "o-1", km=1_200.0, kmh=7_200.0, created_ms=T0 + 1)
    stored, created = await raise_fraud_flag(db, flag)
    assert created and stored.flag_id > 0
    again, created = await raise_fraud_flag(db, flag)
    assert not created and again == stored
    assert await balance(db, member.member_id, BRAND) == Balance(7, 150)
    with pytest.raises(InsufficientBalanceError):  # held points cannot be spent
        await redeem_points(db, member_id=member.member_id, brand_id=BRAND, points=8,
                            ref="pa-1", now_ms=T0)
    # points of a flagged order credited later are held at once
    later = FraudFlag(CRED, "o-4", "o-2", km=900.0, kmh=5_000.0, created_ms=T0 + 2)
    second, _ = await raise_fraud_flag(db, later)
    await credit(db, member.member_id, "o-4", 30)
    assert await balance(db, member.member_id, BRAND) == Balance(7, 180)
    assert [f.flag_id for f in await list_fraud_flags(db, order_id="o-2")] == [
        stored.flag_id, second.flag_id]
    resolved, changed = await resolve_fraud_flag(db, stored.flag_id, "cleared", T0 + 3,
                                                 note="same family card")
    assert changed and resolved.status == "cleared" and resolved.note == "same family card"
    # o-1 is released; o-2 stays held: the second flag still names it
    assert await balance(db, member.member_id, BRAND) == Balance(107, 80)
    _, changed = await resolve_fraud_flag(db, stored.flag_id, "confirmed", T0 + 4)
    assert not changed
    got = await get_fraud_flag(db, stored.flag_id)
    assert got is not None and got.status == "cleared"
    await resolve_fraud_flag(db, second.flag_id, "cleared", T0 + 5)
    assert await balance(db, member.member_id, BRAND) == Balance(187, 0)
    assert await list_fraud_flags(db) == []
    assert await verify_points_balances(db) == []
    with pytest.raises(NotFoundError):
        await resolve_fraud_flag(db, 999_999, "cleared", T0)


async def test_confirm_voids_chosen_orders(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100)
    await credit(db, member.member_id, "o-2", 50)
    flag, _ = await raise_fraud_flag(db, FraudFlag(CRED, "o-2", "o-1", 1_000, 6_000, T0))
    await resolve_fraud_flag(db, flag.flag_id, "confirmed", T0 + 1, void_orders=["o-2"])
    assert await balance(db, member.member_id, BRAND) == Balance(100, 0)
    # a refund of a voided order reverses nothing
    assert await reverse_order_points(db, brand_id=BRAND, order_id="o-2", refund_ref="rf-1",
                                      points=50, order_refunded_fen=1_000, now_ms=T0) is None
    assert await verify_points_balances(db) == []


async def test_manual_hold_release_void_and_reversal_follows_hold(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-1", 100)
    held = await hold_order_points(db, ["o-1"], T0 + 1)
    assert [(e.status, e.status_ms) for e in held] == [("held", T0 + 1)]
    assert await hold_order_points(db, ["o-1"], T0 + 2) == []
    reversal = await reverse_order_points(db, brand_id=BRAND, order_id="o-1", refund_ref="rf-1",
                                          points=40, order_refunded_fen=400, now_ms=T0 + 3)
    assert reversal is not None and reversal[0].status == "held"
    assert await balance(db, member.member_id, BRAND) == Balance(0, 60)
    assert len(await release_order_points(db, ["o-1"], T0 + 4)) == 2
    assert await balance(db, member.member_id, BRAND) == Balance(60, 0)
    assert len(await void_order_points(db, ["o-1"], T0 + 5)) == 2
    assert await balance(db, member.member_id, BRAND) == Balance(0, 0)
    assert await verify_points_balances(db) == []


async def test_stored_value_ledger(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    mid = member.member_id
    top, created = await post_stored_value(db, StoredValueEntry(mid, 10_000, "topup", "tp-1", T0))
    assert created and top.entry_id > 0
    assert (await post_stored_value(db, StoredValueEntry(mid, 10_000, "topup", "tp-1", T0)))[
        1] is False
    with pytest.raises(LedgerConflictError):
        await post_stored_value(db, StoredValueEntry(mid, 9_999, "topup", "tp-1", T0))
    await post_stored_value(db, StoredValueEntry(mid, -7_000, "payment", "otn-1", T0))
    with pytest.raises(InsufficientBalanceError) as info:
        await post_stored_value(db, StoredValueEntry(mid, -3_001, "payment", "otn-2", T0))
    assert info.value.available == 3_000
    await post_stored_value(db, StoredValueEntry(mid, 7_000, "refund", "rf-1", T0))
    assert await stored_value_balance(db, mid) == 10_000
    assert [e.ref for e in await list_stored_value_entries(db, mid)] == ["rf-1", "otn-1", "tp-1"]
    with pytest.raises(NotFoundError):
        await post_stored_value(db, StoredValueEntry("m-00000000", 1, "topup", "tp-9", T0))
    with pytest.raises(NotFoundError):
        await stored_value_balance(db, "m-00000000")
    assert await verify_stored_value_balances(db) == []


async def test_concurrent_stored_value_payments_never_overdraw(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await post_stored_value(db, StoredValueEntry(member.member_id, 1_000, "topup", "tp-1", T0))

    async def pay(target: Database, i: int) -> bool:
        try:
            await post_stored_value(target, StoredValueEntry(
                member.member_id, -300, "payment", f"otn-{i % 8}", T0))
        except InsufficientBalanceError:
            return False
        return True

    async with second_process(db) as other:
        await asyncio.gather(*(pay(db if i % 2 else other, i) for i in range(20)))
    assert await stored_value_balance(db, member.member_id) == 100
    assert len(await list_stored_value_entries(db, member.member_id)) == 4
    assert await verify_stored_value_balances(db) == []


async def test_rfm_inputs(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "coffeeco")
    a = await new_member(db, BRAND, "coffeeco")
    b = await new_member(db)
    await credit(db, a.member_id, "o-1", 10, amount_fen=1_000, paid_ms=T0)
    await credit(db, a.member_id, "o-2", 0, amount_fen=2_500, paid_ms=T0 + 50)
    await credit(db, a.member_id, "o-3", 10, amount_fen=9_000, paid_ms=T0 + 200)  # outside
    await credit(db, b.member_id, "o-4", 10, amount_fen=3_000, paid_ms=T0 + 10)
    await credit(db, b.member_id, "o-5", 10, amount_fen=700, paid_ms=T0 + 20)
    await credit_order(db, member_id=a.member_id, brand_id="coffeeco", order_id="o-6",
                       amount_fen=999, points=1, paid_ms=T0)
    # b's o-5 fully refunded: no longer counts; a's o-1 half refunded
    await reverse_order_points(db, brand_id=BRAND, order_id="o-5", refund_ref="rf-5",
                               points=10, order_refunded_fen=700, now_ms=T0 + 30)
    await reverse_order_points(db, brand_id=BRAND, order_id="o-1", refund_ref="rf-1",
                               points=5, order_refunded_fen=500, now_ms=T0 + 30)
    rows = await rfm_inputs(db, BRAND, T0, T0 + 200)
    expected = sorted([RfmRow(a.member_id, T0 + 50, 2, 3_000),
                       RfmRow(b.member_id, T0 + 10, 1, 3_000)], key=lambda r: r.member_id)
    assert rows == expected
    assert await rfm_inputs(db, "coffeeco", T0, T0 + 1) == [RfmRow(a.member_id, T0, 1, 999)]


async def test_flag_racing_the_credit_still_holds_the_points(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    async with second_process(db) as other:
        for i in range(8):
            flag = FraudFlag(CRED, f"o-{i}", f"o-prev-{i}", 900.0, 5_000.0, T0)
            await asyncio.gather(credit(db, member.member_id, f"o-{i}", 10),
                                 raise_fraud_flag(other, flag))
    assert await balance(db, member.member_id, BRAND) == Balance(0, 80)


async def test_clearing_two_flags_of_one_order_at_once_releases_it(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await credit(db, member.member_id, "o-2", 10)
    first, _ = await raise_fraud_flag(db, FraudFlag(CRED, "o-2", "o-1", 900, 5_000, T0))
    second, _ = await raise_fraud_flag(db, FraudFlag(CRED, "o-3", "o-2", 900, 5_000, T0))
    async with second_process(db) as other:
        await asyncio.gather(resolve_fraud_flag(db, first.flag_id, "cleared", T0 + 1),
                             resolve_fraud_flag(other, second.flag_id, "cleared", T0 + 1))
    assert await balance(db, member.member_id, BRAND) == Balance(10, 0)
