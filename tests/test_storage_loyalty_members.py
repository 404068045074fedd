"""Members, wallet identities and brand memberships on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from loyalty_fixtures import BRAND, PHONE_KEY, T0, new_member, second_process, seed_brand
from storage_fixtures import db as db  # the fixture

from broker.storage import AlreadyExistsError, Database, NotFoundError
from broker.storage.loyalty_records import (
    MemberRecord,
    MembershipRecord,
    WalletIdentity,
    phone_hmac,
    protect_phone,
)
from broker.storage.members import (
    create_member,
    ensure_wallet_member,
    get_member,
    get_membership,
    join_brand,
    link_wallet,
    list_memberships,
    list_wallet_identities,
    member_by_phone,
    member_for_wallet,
    members_with_birthday,
    memberships_due_for_review,
    set_birthday,
    set_tier,
)

PHONE = "+8613812345678"
WX = WalletIdentity("wechat", "wx-app-1", "openid-abc")


async def test_member_round_trip_and_phone_lookup(db: Database) -> None:
    member = MemberRecord.new("Li Lei", T0, phone=protect_phone(PHONE, PHONE_KEY),
                              birthday="03-14")
    await create_member(db, member)
    assert await get_member(db, member.member_id) == member
    found = await member_by_phone(db, phone_hmac(PHONE, PHONE_KEY))
    assert found is not None and found.member_id == member.member_id
    assert found.phone_masked == "138****5678"
    assert await member_by_phone(db, phone_hmac("+8613800000000", PHONE_KEY)) is None
    assert await get_member(db, "m-00000000") is None
    # one member per phone, one per id
    with pytest.raises(AlreadyExistsError):
        await create_member(db, MemberRecord.new("Other", T0,
                                                 phone=protect_phone(PHONE, PHONE_KEY)))
    with pytest.raises(AlreadyExistsError):
        await create_member(db, member)


async def test_no_plain_phone_anywhere(db: Database) -> None:
    member = MemberRecord.new("Li", T0, phone=protect_phone(PHONE, PHONE_KEY))
    await create_member(db, member)
    async with db.read() as conn:
        rows = (await conn.exec_driver_sql("SELECT * FROM members")).all()
    assert rows and not any("13812345678" in str(value) for row in rows for value in row)


async def test_ensure_wallet_member_creates_links_and_reuses(db: Database) -> None:
    profile = MemberRecord.new("Li", T0, phone=protect_phone(PHONE, PHONE_KEY))
    member, created = await ensure_wallet_member(db, WX, profile, T0)
    assert created and member == profile
    again, created = await ensure_wallet_member(db, WX, MemberRecord.new("Li2", T0), T0)
    assert not created and again.member_id == profile.member_id
    # the same person paying with Alipay: reused through the phone, the identity is linked
    alipay = WalletIdentity("alipay", "ali-app", "2088000")
    other_profile = MemberRecord.new("Li (Alipay)", T0, phone=protect_phone(PHONE, PHONE_KEY))
    reused, created = await ensure_wallet_member(db, alipay, other_profile, T0)
    assert not created and reused.member_id == profile.member_id
    assert await list_wallet_identities(db, profile.member_id) == sorted(
        [WX, alipay], key=lambda w: (w.provider, w.app_id, w.payer_id))
    fetched = await member_for_wallet(db, alipay)
    assert fetched is not None and fetched.member_id == profile.member_id
    assert await get_member(db, other_profile.member_id) is None


async def test_concurrent_joins_of_one_payer_make_one_member(db: Database) -> None:
    async with second_process(db) as other:
        async def join(i: int) -> MemberRecord:
            target = db if i % 2 else other
            profile = MemberRecord.new(f"Payer {i}", T0)  # no phone: only the identity links
            member, _ = await ensure_wallet_member(target, WX, profile, T0)
            return member
        members = await asyncio.gather(*(join(i) for i in range(12)))
    assert len({m.member_id for m in members}) == 1
    async with db.read() as conn:
        count = (await conn.exec_driver_sql("SELECT count(*) FROM members")).scalar_one()
    assert count == 1  # the losers removed the members they created


async def test_link_wallet(db: Database) -> None:
    await seed_brand(db)
    first = await new_member(db)
    second = await new_member(db)
    assert await link_wallet(db, WX, first.member_id, T0)
    assert not await link_wallet(db, WX, first.member_id, T0)
    with pytest.raises(AlreadyExistsError):
        await link_wallet(db, WX, second.member_id, T0)
    with pytest.raises(NotFoundError):
        await link_wallet(db, WalletIdentity("wechat", "x", "y"), "m-00000000", T0)


async def test_join_brand_once_and_memberships(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "coffeeco")
    member = MemberRecord.new("Li", T0)
    await create_member(db, member)
    first, created = await join_brand(db, MembershipRecord(
        member.member_id, BRAND, T0, source_order_id="o-1", tier_review_due_ms=T0 + 100))
    assert created and first.source_order_id == "o-1" and first.points_available == 0
    again, created = await join_brand(db, MembershipRecord(member.member_id, BRAND, T0 + 5,
                                                           source_order_id="o-2"))
    assert not created and again == first
    await join_brand(db, MembershipRecord(member.member_id, "coffeeco", T0 + 1))
    assert [m.brand_id for m in await list_memberships(db, member.member_id)] == [
        BRAND, "coffeeco"]
    with pytest.raises(NotFoundError, match="brand"):
        await join_brand(db, MembershipRecord(member.member_id, "nobrand", T0))
    with pytest.raises(NotFoundError, match="member"):
        await join_brand(db, MembershipRecord("m-00000000", BRAND, T0))
    assert await set_tier(db, member.member_id, BRAND, "gold", T0 + 10**9)
    assert not await set_tier(db, "m-00000000", BRAND, "gold", None)
    got = await get_membership(db, member.member_id, BRAND)
    assert got is not None and (got.tier, got.tier_review_due_ms) == ("gold", T0 + 10**9)
    due = await memberships_due_for_review(db, T0 + 10**9)
    assert [(m.member_id, m.brand_id) for m in due] == [(member.member_id, BRAND)]
    assert await memberships_due_for_review(db, T0 + 10**9 - 1) == []


async def test_birthdays(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "coffeeco")
    a = await new_member(db, birthday="05-01")
    b = await new_member(db, BRAND, "coffeeco", birthday="05-01")
    c = await new_member(db, birthday="05-02")
    assert await members_with_birthday(db, BRAND, "05-01") == sorted([a.member_id, b.member_id])
    assert await members_with_birthday(db, "coffeeco", "05-01") == [b.member_id]
    assert await set_birthday(db, c.member_id, "05-01")
    assert c.member_id in await members_with_birthday(db, BRAND, "05-01")
    assert not await set_birthday(db, "m-00000000", "05-01")
    with pytest.raises(ValueError):
        await set_birthday(db, c.member_id, "02-30")
