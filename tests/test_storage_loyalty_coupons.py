"""Coupons (exactly-once issue, single use under races, release) and receipt claims (one
time, points in the same transaction) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from loyalty_fixtures import BRAND, T0, new_member, second_process, seed_brand
from storage_fixtures import db as db  # the fixture

from broker.storage import AlreadyExistsError, Database, NotFoundError
from broker.storage.coupons import (
    get_coupon,
    issue_coupon,
    list_member_coupons,
    redeem_coupon,
    release_coupon,
    release_order_coupons,
    void_coupon,
)
from broker.storage.loyalty_errors import AlreadyClaimedError, CouponUnavailableError
from broker.storage.loyalty_records import Balance
from broker.storage.points import balance, list_points_entries, verify_points_balances
from broker.storage.purchases import get_purchase, rfm_inputs
from broker.storage.receipts import (
    claim_receipt,
    get_receipt_claim,
    list_member_claims,
    receipt_ref,
)
from broker.storage.reward_records import CouponRecord, ReceiptClaim

DAY = 86_400_000


def make_coupon(code: str, **changes: Any) -> CouponRecord:
    values: dict[str, Any] = {"code": code, "brand_id": BRAND, "kind": "campaign",
                              "valid_from_ms": T0, "valid_to_ms": T0 + 30 * DAY,
                              "issued_ms": T0, "amount_off_fen": 500, "min_spend_fen": 2_000}
    values.update(changes)
    return CouponRecord(**values)


async def redeem(db: Database, code: str, order_id: str, member_id: str | None = None,
                 **changes: Any) -> CouponRecord:
    args: dict[str, Any] = {"order_id": order_id, "brand_id": BRAND, "store_id": "sh-01",
                            "member_id": member_id, "order_amount_fen": 5_000,
                            "now_ms": T0 + DAY}
    args.update(changes)
    return await redeem_coupon(db, code, **args)


async def test_welcome_coupon_is_issued_once(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    welcome = make_coupon("W-AAAA1111", kind="welcome", owner_member_id=member.member_id,
                          issued_for_order="o-1", issue_ref=member.member_id)
    stored, created = await issue_coupon(db, welcome)
    assert created and stored == welcome
    again, created = await issue_coupon(db, make_coupon(
        "W-BBBB2222", kind="welcome", owner_member_id=member.member_id, issued_for_order="o-9",
        issue_ref=member.member_id))
    assert not created and again == welcome
    assert await get_coupon(db, "W-BBBB2222") is None
    with pytest.raises(AlreadyExistsError):
        await issue_coupon(db, make_coupon("W-AAAA1111"))
    with pytest.raises(NotFoundError):
        await issue_coupon(db, make_coupon("X-00000001", brand_id="nobrand"))
    with pytest.raises(NotFoundError):
        await issue_coupon(db, make_coupon("X-00000002", owner_member_id="m-00000000"))
    assert await list_member_coupons(db, member.member_id, BRAND) == [welcome]


async def test_concurrent_welcome_issues_make_one_coupon(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    async with second_process(db) as other:
        results = await asyncio.gather(*(issue_coupon(db if i % 2 else other, make_coupon(
            f"W-RACE{i:04d}", kind="welcome", owner_member_id=member.member_id,
            issue_ref=member.member_id)) for i in range(10)))
    assert sum(created for _, created in results) == 1
    assert len({c.code for c, _ in results}) == 1
    assert len(await list_member_coupons(db, member.member_id, state=None)) == 1


async def test_redeem_once_idempotent_and_release(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    await issue_coupon(db, make_coupon("C-00000001"))
    used = await redeem(db, "C-00000001", "o-1", member.member_id)
    assert (used.state, used.redeemed_order_id, used.redeemed_by) == (
        "redeemed", "o-1", member.member_id)
    assert await redeem(db, "C-00000001", "o-1", member.member_id) == used  # same order: ok
    with pytest.raises(CouponUnavailableError) as info:
        await redeem(db, "C-00000001", "o-2")
    assert info.value.reason == "already_used"
    assert not await release_coupon(db, "C-00000001", "o-2", T0 + DAY)
    assert await release_coupon(db, "C-00000001", "o-1", T0 + DAY)
    assert not await release_coupon(db, "C-00000001", "o-1", T0 + DAY)
    again = await redeem(db, "C-00000001", "o-2")
    assert again.redeemed_order_id == "o-2" and again.redeemed_by is None
    assert await release_order_coupons(db, "o-2", T0 + DAY) == ["C-00000001"]
    assert await release_order_coupons(db, "o-2", T0 + DAY) == []
    released = await get_coupon(db, "C-00000001")
    assert released is not None and released.state == "issued"
    assert released.redeemed_order_id is None and released.redeemed_ms is None
    with pytest.raises(NotFoundError):
        await redeem(db, "C-NOPE0000", "o-1")


@pytest.mark.parametrize(("coupon_changes", "redeem_changes", "reason"), [
    ({}, {"now_ms": T0 - 1}, "not_yet_valid"),
    ({}, {"now_ms": T0 + 30 * DAY}, "expired"),
    ({}, {"brand_id": "coffeeco"}, "wrong_brand"),
    ({"store_id": "sh-02"}, {}, "wrong_store"),
    ({}, {"order_amount_fen": 1_999}, "below_min_spend"),
    ({"owner_member_id": "OWNER"}, {"member_id": None}, "not_owner"),
])
async def test_redeem_refusals(db: Database, coupon_changes: dict[str, Any],
                               redeem_changes: dict[str, Any], reason: str) -> None:
    await seed_brand(db)
    await seed_brand(db, "coffeeco")
    owner = await new_member(db)
    if coupon_changes.get("owner_member_id") == "OWNER":
        coupon_changes = coupon_changes | {"owner_member_id": owner.member_id}
    await issue_coupon(db, make_coupon("R-00000001", **coupon_changes))
    with pytest.raises(CouponUnavailableError) as info:
        await redeem(db, "R-00000001", "o-1", **redeem_changes)
    assert info.value.reason == reason
    stored = await get_coupon(db, "R-00000001")
    assert stored is not None and stored.state == "issued"


async def test_store_scoped_owned_coupon_redeems_for_owner(db: Database) -> None:
    await seed_brand(db)
    owner = await new_member(db)
    await issue_coupon(db, make_coupon("S-00000001", store_id="sh-01",
                                       owner_member_id=owner.member_id))
    used = await redeem(db, "S-00000001", "o-1", owner.member_id)
    assert used.state == "redeemed"


async def test_void(db: Database) -> None:
    await seed_brand(db)
    await issue_coupon(db, make_coupon("V-00000001"))
    assert await void_coupon(db, "V-00000001", T0 + 1)
    assert not await void_coupon(db, "V-00000001", T0 + 2)
    with pytest.raises(CouponUnavailableError, match="void"):
        await redeem(db, "V-00000001", "o-1")


async def test_coupon_used_once_under_concurrency(db: Database) -> None:
    await seed_brand(db)
    await issue_coupon(db, make_coupon("RACE-0001"))

    async def attempt(target: Database, i: int) -> str | None:
        try:
            return (await redeem(target, "RACE-0001", f"o-{i}")).redeemed_order_id
        except CouponUnavailableError:
            return None

    async with second_process(db) as other:
        winners = await asyncio.gather(*(attempt(db if i % 2 else other, i) for i in range(20)))
    assert len([w for w in winners if w is not None]) == 1
    stored = await get_coupon(db, "RACE-0001")
    assert stored is not None and stored.redeemed_order_id in winners


# ---- receipt claims -------------------------------------------------------------------------


def make_claim(token_id: str, member_id: str, **changes: Any) -> ReceiptClaim:
    values: dict[str, Any] = {"token_id": token_id, "brand_id": BRAND, "store_id": "sh-01",
                              "order_ref": f"pos-{token_id}", "amount_fen": 8_800,
                              "points": 88, "claimed_by": member_id, "claimed_ms": T0}
    values.update(changes)
    return ReceiptClaim(**values)


async def test_receipt_claimed_once_with_points(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "coffeeco")
    member = await new_member(db, "coffeeco")  # not yet a member of BRAND
    result = await claim_receipt(db, make_claim("tok-00000001", member.member_id))
    assert result.joined and result.balance == Balance(88, 0)
    assert result.entry is not None and result.entry.ref == receipt_ref("tok-00000001")
    with pytest.raises(AlreadyClaimedError) as info:
        await claim_receipt(db, make_claim("tok-00000001", member.member_id))
    assert info.value.claimed_by == member.member_id
    other = await new_member(db)
    with pytest.raises(AlreadyClaimedError):  # a reprint: new token, same POS order
        await claim_receipt(db, make_claim("tok-00000002", other.member_id,
                                           order_ref="pos-tok-00000001"))
    assert await balance(db, member.member_id, BRAND) == Balance(88, 0)
    assert await balance(db, other.member_id, BRAND) == Balance(0, 0)
    assert await get_receipt_claim(db, "tok-00000002") is None
    claim = await get_receipt_claim(db, "tok-00000001")
    assert claim is not None and await list_member_claims(db, member.member_id) == [claim]
    purchase = await get_purchase(db, BRAND, receipt_ref("tok-00000001"))
    assert purchase is not None and purchase.source == "receipt"
    second = await claim_receipt(db, make_claim("tok-00000003", member.member_id, points=0))
    assert not second.joined and second.entry is None and second.balance == Balance(88, 0)
    assert [r.purchases for r in await rfm_inputs(db, BRAND, T0, T0 + 1)] == [2]


async def test_receipt_claim_unknown_member_or_brand(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    with pytest.raises(NotFoundError):
        await claim_receipt(db, make_claim("tok-00000009", "m-00000000"))
    with pytest.raises(NotFoundError):
        await claim_receipt(db, make_claim("tok-00000009", member.member_id, brand_id="nob"))
    assert await get_receipt_claim(db, "tok-00000009") is None


async def test_receipt_claimed_once_under_concurrency(db: Database) -> None:
    await seed_brand(db)
    members = [await new_member(db) for _ in range(4)]

    async def attempt(target: Database, i: int) -> bool:
        try:
            await claim_receipt(target, make_claim("tok-RACE0001", members[i % 4].member_id))
        except AlreadyClaimedError:
            return False
        return True

    async with second_process(db) as other:
        won = await asyncio.gather(*(attempt(db if i % 2 else other, i) for i in range(16)))
    assert sum(won) == 1
    totals = [(await balance(db, m.member_id, BRAND)).available for m in members]
    assert sorted(totals) == [0, 0, 0, 88]
    entries = [e for m in members for e in await list_points_entries(db, m.member_id, BRAND)]
    assert len(entries) == 1
    assert await verify_points_balances(db) == []
