"""Member prices per item: the pure totals, input validation, the order view, and members of
the order's brand paying the member total (face pay, points.apply) against the real controller
with the sandbox provider; non-members pay the regular price; the saving is applied once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from checkout_fixtures import Shop, open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from broker.members.member_prices import apply_member_prices
from broker.mosquitto import ManagedBroker
from broker.payments import member_pricing as mp
from broker.payments.order_input import NewOrder, OrderItem
from broker.storage import members as member_db
from broker.storage import payments as pay_db
from broker.storage import points as points_db
from broker.storage import signage
from broker.storage import stored_value as sv_db
from broker.storage.loyalty_records import (
    LedgerEntry,
    MemberRecord,
    MembershipRecord,
    StoredValueEntry,
)
from broker.storage.payments_records import OrderRecord, new_order_id
from broker.storage.signage_records import BrandRecord, token_sha256
from kiosk.checkout.model import Order, parse

ADMIN = {"Authorization": "Bearer test-admin-token"}
CLOSE = {"distance": 0.30, "margin": 0.20, "gallery_size": 50}
# regular 2 x 650 + 1000 + 1200 = 3500; members 2 x 600 + 1000 + 1000 = 3200; saving 300
ITEMS: list[dict[str, Any]] = [
    {"sku": "A1", "name": "Milk", "qty": 2, "unit_fen": 650, "category": "dairy",
     "member_unit_fen": 600},
    {"sku": "B2", "name": "Bread", "qty": 1, "unit_fen": 1000, "category": "bakery"},
    {"sku": "C3", "name": "Eggs", "qty": 1, "unit_fen": 1200, "category": "fresh",
     "member_unit_fen": 1000},
]


# ---- pure ------------------------------------------------------------------------------------

@st.composite
def an_item(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.integers(1, 1_000_000))
    item: dict[str, Any] = {"sku": "S", "name": "N", "qty": draw(st.integers(1, 10_000)),
                            "unit_fen": unit}
    if draw(st.booleans()):
        item["member_unit_fen"] = draw(st.integers(1, unit))
    elif draw(st.booleans()):
        item["member_unit_fen"] = None
    return item


@given(st.lists(an_item(), min_size=1, max_size=30))
def test_member_total_is_never_above_the_regular_total(items: list[dict[str, Any]]) -> None:
    t = mp.totals(items)
    assert type(t.regular_fen) is int and type(t.member_fen) is int
    assert type(t.saving_fen) is int
    assert t.regular_fen == sum(i["qty"] * i["unit_fen"] for i in items)
    assert 0 < t.member_fen <= t.regular_fen
    assert t.saving_fen == t.regular_fen - t.member_fen >= 0
    # each line's saving is its own: the order's saving is their sum
    assert t.saving_fen == sum(mp.totals([i]).saving_fen for i in items)
    plain = [{k: v for k, v in i.items() if k != "member_unit_fen"} for i in items]
    assert mp.totals(plain) == mp.MemberTotals(t.regular_fen, t.regular_fen)
    assert mp.totals(plain).saving_fen == 0


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_member_discount_leaves_something_to_pay_and_applies_once(saving: int,
                                                                    payable: int) -> None:
    off = mp.member_discount(saving, payable)
    assert type(off) is int and 0 <= off <= saving
    assert payable - off >= 1
    assert off == min(saving, payable - 1)
    # before: what a member would pay; after applying it, the same, and nothing more comes off
    before = mp.member_payable(payable, saving, 0)
    assert before == payable - off
    assert mp.member_payable(payable - off, saving, off) == before
    assert mp.member_payable(payable, 0, 0) == payable


def test_member_unit_refuses_what_is_not_a_member_price() -> None:
    base = {"sku": "A1", "qty": 1, "unit_fen": 650}
    assert mp.member_unit(base) == 650
    assert mp.member_unit(base | {"member_unit_fen": 600}) == 600
    for bad in (0, -1, 651, 600.0, True, "600"):
        with pytest.raises(ValueError, match="A1"):
            mp.member_unit(base | {"member_unit_fen": bad})


def new_order(items: list[dict[str, Any]], **extra: Any) -> NewOrder:
    return NewOrder.model_validate({"store_id": "sh-01", "device_id": "till-01",
                                    "brand_id": "freshmart", "items": items,
                                    "idempotency_key": "pos-000001", **extra})


def test_order_input_validates_member_prices_naming_the_item() -> None:
    order = new_order(ITEMS, amount_fen=3500)  # amount_fen stays the regular total
    assert order.items[0].member_unit_fen == 600 and order.items[1].member_unit_fen is None
    with pytest.raises(ValidationError, match="item 'B2': member_unit_fen 1001 is above"):
        new_order([ITEMS[0], ITEMS[1] | {"member_unit_fen": 1001}])
    for bad in (0, -5, 6.5, "600"):
        with pytest.raises(ValidationError, match="member_unit_fen"):
            new_order([ITEMS[0] | {"member_unit_fen": bad}])
    with pytest.raises(ValidationError, match="member_unit_fen"):
        NewOrder.model_validate_json(new_order(ITEMS).model_dump_json().replace(
            '"member_unit_fen":600', '"member_unit_fen":"600"'))


def test_an_item_without_member_price_is_stored_and_digested_as_before() -> None:
    plain = OrderItem(sku="B2", name="Bread", qty=1, unit_fen=1000)
    assert "member_unit_fen" not in plain.model_dump()
    assert "member_unit_fen" not in new_order([ITEMS[1]]).model_dump_json()
    assert new_order([ITEMS[1]]).digest() == new_order(
        [ITEMS[1] | {"member_unit_fen": None}]).digest()
    assert new_order(ITEMS).digest() != new_order([ITEMS[1]]).digest()


def record(**changes: Any) -> OrderRecord:
    base: dict[str, Any] = dict(
        order_id=new_order_id(), store_id="sh-01", device_id="till-01", brand_id="freshmart",
        items=tuple(i.model_dump() for i in new_order(ITEMS).items), amount_fen=3500,
        state="open", source="pos", request_key="pos:sh-01:k", request_sha256="x",
        created_ms=1, expires_ms=2, updated_ms=1)
    return OrderRecord(**(base | changes))


def test_order_view_shows_both_prices_and_both_totals() -> None:
    view = record().view()
    assert [i["member_unit_fen"] for i in view["items"]] == [600, None, 1000]
    assert (view["amount_fen"], view["payable_fen"]) == (3500, 3500)
    assert view["member_amount_fen"] == 3200
    assert view["member_saving_fen"] == 300
    assert view["member_discount_fen"] == 0
    assert view["member_payable_fen"] == 3200
    # another discount (a coupon) first: a member would still save the member prices on top
    view = record(discount_fen=500).view()
    assert (view["payable_fen"], view["member_payable_fen"]) == (3000, 2700)
    # applied: payable is the member total less the other discounts, nothing more to save
    view = record(discount_fen=800, member_discount_fen=300).view()
    assert view["payable_fen"] == view["member_payable_fen"] == 2700
    # the terminal parses it (the fields are optional there: older controllers lack them)
    parsed = parse(Order, view)
    assert parsed is not None and parsed.member_payable_fen == 2700
    assert parsed.items[0].member_unit_fen == 600 and parsed.items[1].member_unit_fen is None
    with pytest.raises(ValueError, match="member_discount_fen"):
        record(discount_fen=100, member_discount_fen=300)


# ---- against the controller --------------------------------------------------------------------

async def create(shop: Shop, device_id: str, items: list[dict[str, Any]] | None = None,
                 key: str | None = None) -> OrderRecord:
    assert shop.c.payments is not None
    order, _ = await shop.c.payments.create_order(NewOrder.model_validate({
        "store_id": "sh-01", "device_id": device_id, "brand_id": "freshmart",
        "items": items or ITEMS, "idempotency_key": key or f"pos-{now_ms()}-{id(object())}"}))
    return order


async def person(shop: Shop, name: str, *brands: str, stored_value: int = 0,
                 points: int = 0) -> MemberRecord:
    db = shop.c.db
    assert db is not None
    m = MemberRecord.new(name, now_ms())
    await member_db.create_member(db, m)
    for brand in brands:
        if brand != "freshmart":  # the shop has FreshMart; another brand is made here
            await signage.create_brand(db, BrandRecord(brand, brand.title(),
                                                       token_sha256(f"{brand}-token"),
                                                       now_ms()))
        await member_db.join_brand(db, MembershipRecord(m.member_id, brand, now_ms()))
    if stored_value:
        await sv_db.post_stored_value(db, StoredValueEntry(m.member_id, stored_value, "topup",
                                                           f"topup-{name}", now_ms()))
    if points:
        await points_db.post_points(db, LedgerEntry(m.member_id, "freshmart", points, "adjust",
                                                    "opening-balance", now_ms()))
    return m


async def stored_order(shop: Shop, order_id: str) -> OrderRecord:
    assert shop.c.db is not None
    got = await pay_db.get_order(shop.c.db, order_id)
    assert got is not None
    return got


@needs_mosquitto
async def test_members_pay_member_prices_by_face_non_members_the_regular_price(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        db, c = shop.c.db, shop.c
        assert db is not None and c.checkout is not None and c.payments is not None
        agent = await run_agent(agent_for(await provision(c, "till-05"), tmp_path / "t"))
        alice = await person(shop, "Alice", "freshmart", stored_value=50_000)
        other = await person(shop, "Olga", "otherbrand", stored_value=50_000)
        bob = await person(shop, "Bob", "freshmart")
        payer = await shop.sandbox_post("/sandbox/payers", {"name": "Bob", "balance_fen": 10**7})
        contract = await shop.sandbox_post("/sandbox/contracts", {
            "mchid": c.payments.provider.merchant_id, "payer_id": payer["payer_id"]})  # type: ignore[attr-defined]
        await c.checkout.wallets.set_agreement(bob.member_id, "sandbox", contract["contract_id"])

        async def pay(order_id: str, member_id: str, key: str, **face: Any) -> Any:
            return await agent.request("checkout.pay", {
                "order_id": order_id, "method": "face",
                "face": {"member_id": member_id, **CLOSE, **face}}, idempotency_key=key)

        # the terminal sees both prices and both totals before anyone is identified
        order = await create(shop, "till-05")
        r = await agent.request("checkout.status", {"order_id": order.order_id})
        assert r.ok, r.error
        seen = r.result["order"]  # type: ignore[index]
        assert [i["member_unit_fen"] for i in seen["items"]] == [600, None, 1000]
        assert (seen["payable_fen"], seen["member_payable_fen"]) == (3500, 3200)
        assert seen["member_saving_fen"] == 300 and seen["member_discount_fen"] == 0

        # a far face match is refused: nobody was identified, nothing comes off
        r = await pay(order.order_id, alice.member_id, "face-0000", distance=0.58)
        assert not r.ok and r.error.code == "declined"  # type: ignore[union-attr]
        assert (await stored_order(shop, order.order_id)).discount_fen == 0

        # Alice (a FreshMart member) pays the member total from her stored value
        r = await pay(order.order_id, alice.member_id, "face-0001")
        assert r.ok, r.error
        assert r.result["attempt"]["state"] == "paid"  # type: ignore[index]
        assert r.result["order"]["payable_fen"] == 3200  # type: ignore[index]
        paid = await stored_order(shop, order.order_id)
        assert paid.state == "paid" and paid.payable_fen == 3200
        assert (paid.discount_fen, paid.member_discount_fen) == (300, 300)
        assert paid.member_id == alice.member_id
        attempt = await pay_db.latest_attempt(db, order.order_id)
        assert attempt is not None and attempt.amount_fen == 3200
        assert await sv_db.stored_value_balance(db, alice.member_id) == 50_000 - 3200
        # the same request again: the same answer, nothing charged or taken off twice
        r = await pay(order.order_id, alice.member_id, "face-0001")
        assert r.ok and r.result["attempt"]["out_trade_no"] == attempt.out_trade_no  # type: ignore[index]
        again = await stored_order(shop, order.order_id)
        assert (again.discount_fen, again.member_discount_fen) == (300, 300)
        assert await sv_db.stored_value_balance(db, alice.member_id) == 50_000 - 3200

        # Olga is a member of another brand only: the regular price
        order = await create(shop, "till-05")
        r = await pay(order.order_id, other.member_id, "face-0002")
        assert r.ok and r.result["attempt"]["state"] == "paid", r.error  # type: ignore[index]
        paid = await stored_order(shop, order.order_id)
        assert (paid.payable_fen, paid.discount_fen, paid.member_discount_fen) == (3500, 0, 0)
        assert await sv_db.stored_value_balance(db, other.member_id) == 50_000 - 3500

        # Bob pays through his wallet agreement: the provider is asked for the member total
        order = await create(shop, "till-05")
        r = await pay(order.order_id, bob.member_id, "face-0003")
        assert r.ok, r.error
        assert r.result["attempt"]["method"] == "face_agreement"  # type: ignore[index]
        attempt = await pay_db.latest_attempt(db, order.order_id)
        assert attempt is not None and attempt.amount_fen == 3200
        trade = await c.payments.provider.query(attempt.out_trade_no)
        assert trade.amount_fen == 3200
        assert (await stored_order(shop, order.order_id)).payable_fen == 3200


@needs_mosquitto
async def test_points_apply_takes_member_prices_off_first_and_only_once(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        db, c = shop.c.db, shop.c
        assert db is not None and c.checkout is not None and c.payments is not None
        agent = await run_agent(agent_for(await provision(c, "till-07"), tmp_path / "t"))
        carol = await person(shop, "Carol", "freshmart", points=10_000)
        dan = await person(shop, "Dan", "otherbrand")

        # a non-member of the brand: points refused, the regular price stays
        order = await create(shop, "till-07")
        r = await agent.request("points.apply", {"order_id": order.order_id,
                                                 "member_id": dan.member_id, "points": 100},
                                idempotency_key="pts-00000")
        assert not r.ok and r.error.code == "declined"  # type: ignore[union-attr]
        plain = await stored_order(shop, order.order_id)
        assert (plain.discount_fen, plain.member_discount_fen, plain.member_id) == (0, 0, None)
        assert (await apply_member_prices(db, plain, dan.member_id, now_ms=now_ms())) == plain

        # Carol: the member prices come off, then points (at most half of the rest)
        r = await agent.request("points.apply", {"order_id": order.order_id,
                                                 "member_id": carol.member_id, "points": 500},
                                idempotency_key="pts-00001")
        assert r.ok, r.error
        view = r.result["order"]  # type: ignore[index]
        assert view["member_discount_fen"] == 300 and view["points_used"] == 500
        assert view["discount_fen"] == 300 + 500  # 100 points = 1 yuan
        assert view["payable_fen"] == view["member_payable_fen"] == 3500 - 800

        # identifying her again (points once more, then directly) changes nothing
        r = await agent.request("points.apply", {"order_id": order.order_id,
                                                 "member_id": carol.member_id, "points": 100},
                                idempotency_key="pts-00002")
        assert not r.ok and r.error.code == "conflict"  # type: ignore[union-attr]
        before = await stored_order(shop, order.order_id)
        after = await apply_member_prices(db, before, carol.member_id, now_ms=now_ms())
        assert after.discount_fen == before.discount_fen == 800
        _, applied = await pay_db.apply_member_discount(
            db, order.order_id, member_discount_fen=300, member_id=carol.member_id,
            now_ms=now_ms())
        assert not applied
        assert (await stored_order(shop, order.order_id)).discount_fen == 800

        # paid by QR afterwards: the provider charges the member total less the points
        r = await agent.request("checkout.pay", {"order_id": order.order_id,
                                                 "method": "native"}, idempotency_key="qr-00001")
        assert r.ok, r.error
        attempt = await pay_db.latest_attempt(db, order.order_id)
        assert attempt is not None and attempt.amount_fen == 2700
        assert (await c.payments.provider.query(attempt.out_trade_no)).amount_fen == 2700

        # cancelled unpaid: the points go back (the member discount uses up nothing)
        second = await create(shop, "till-07")
        r = await agent.request("points.apply", {"order_id": second.order_id,
                                                 "member_id": carol.member_id, "points": 200},
                                idempotency_key="pts-00003")
        assert r.ok and r.result["order"]["discount_fen"] == 500, r.error  # type: ignore[index]
        balance = (await points_db.balance(db, carol.member_id, "freshmart")).available
        r = await agent.request("checkout.cancel", {"order_id": second.order_id},
                                idempotency_key="cancel-00001")
        assert r.ok and r.result["order"]["state"] == "closed", r.error  # type: ignore[index]
        assert (await points_db.balance(db, carol.member_id, "freshmart")).available == (
            balance + 200)


@needs_mosquitto
async def test_pos_orders_over_http_carry_member_prices(tmp_path: Path,
                                                        broker: ManagedBroker) -> None:
    async with open_shop(tmp_path, broker) as shop:
        await provision(shop.c, "till-09")
        assert shop.http is not None
        body = {"store_id": "sh-01", "device_id": "till-09", "brand_id": "freshmart",
                "items": ITEMS, "idempotency_key": "pos-00001"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{shop.http.port}",
                                     timeout=10, headers=ADMIN) as http:
            r = await http.post("/api/orders", json=body)
            assert r.status_code == 201, r.text
            order = r.json()["order"]
            assert [i["member_unit_fen"] for i in order["items"]] == [600, None, 1000]
            assert (order["amount_fen"], order["member_payable_fen"]) == (3500, 3200)
            again = await http.post("/api/orders", json=body)
            assert again.status_code == 200
            assert again.json()["order"]["order_id"] == order["order_id"]

            too_high = dict(body, idempotency_key="pos-00002",
                            items=[ITEMS[0], ITEMS[1] | {"member_unit_fen": 1500}])
            r = await http.post("/api/orders", json=too_high)
            assert r.status_code == 422
            assert "item 'B2': member_unit_fen 1500 is above its unit_fen 1000" in r.text
            for bad in (0, 12.5, "600"):
                r = await http.post("/api/orders", json=dict(
                    body, idempotency_key="pos-00003",
                    items=[ITEMS[0] | {"member_unit_fen": bad}]))
                assert r.status_code == 422 and "items.0.member_unit_fen" in r.text, r.text
