"""Orders, attempts and refunds in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from storage_fixtures import db as db  # the fixture

from broker.payments import lifecycle as lc
from broker.payments.provider import Trade, TradeState
from broker.storage import Database, NotFoundError
from broker.storage import payments as pay_db
from broker.storage import refunds as refund_db
from broker.storage.errors import AlreadyExistsError
from broker.storage.payments_records import AttemptRecord, OrderRecord, new_order_id
from broker.storage.refunds import RefundRecord

T0 = 1_700_000_000_000
T = lc.Timings()


def order(key: str = "pos-key-0001", amount: int = 1300, **kw: object) -> OrderRecord:
    base = OrderRecord(
        order_id=new_order_id(), store_id="sh-01", device_id="t-001", brand_id="freshmart",
        items=({"sku": "A1", "name": "Milk", "qty": 2, "unit_fen": 650, "category": "dairy"},),
        amount_fen=amount, state="open", source="pos", request_key=key,
        request_sha256="a" * 64, created_ms=T0, expires_ms=T0 + 900_000, updated_ms=T0)
    return replace(base, **kw)  # type: ignore[arg-type]


def draft(key: str, method: str = "native") -> AttemptRecord:
    return AttemptRecord(out_trade_no="pending-0", order_id="", provider="sandbox",
                         method=method, state="pending", amount_fen=1, request_key=key,
                         created_ms=T0, updated_ms=T0, expires_ms=T0 + 120_000,
                         next_check_ms=T0 + 2_000)


async def test_a_repeated_pos_request_finds_its_order_and_a_changed_one_is_refused(
        db: Database) -> None:
    first, created = await pay_db.create_order(db, order())
    again, created_again = await pay_db.create_order(db, order())
    assert created and not created_again and again.order_id == first.order_id
    with pytest.raises(AlreadyExistsError):
        await pay_db.create_order(db, order(request_sha256="b" * 64))


async def test_one_live_attempt_per_order_and_trade_numbers_count_up(db: Database) -> None:
    o, _ = await pay_db.create_order(db, order())
    a1, created = await pay_db.start_attempt(db, o.order_id, draft("t-001:k1"), now_ms=T0)
    assert created and a1.out_trade_no == f"{o.order_id}-1" and a1.amount_fen == 1300
    with pytest.raises(pay_db.OrderStateError):  # the first one is still live
        await pay_db.start_attempt(db, o.order_id, draft("t-001:k2"), now_ms=T0)
    same, created = await pay_db.start_attempt(db, o.order_id, draft("t-001:k1"), now_ms=T0)
    assert not created and same.out_trade_no == a1.out_trade_no  # a repeat, not a new trade
    closed = lc.closed(a1.as_view())
    saved = await pay_db.save_attempt(db, a1.out_trade_no, closed, was_state="pending",
                                      now_ms=T0 + 1)
    assert saved.applied and (await pay_db.get_order(db, o.order_id)).state == "open"
    a2, _ = await pay_db.start_attempt(db, o.order_id, draft("t-001:k2"), now_ms=T0 + 2)
    assert a2.out_trade_no == f"{o.order_id}-2"


async def test_paid_once_and_a_second_payment_is_reported_as_duplicate(db: Database) -> None:
    o, _ = await pay_db.create_order(db, order())
    a1, _ = await pay_db.start_attempt(db, o.order_id, draft("k-0000001"), now_ms=T0)
    paid = lc.observed(a1.as_view(), Trade(a1.out_trade_no, TradeState.SUCCESS, 1300,
                                           payer="wx:app:p1"), T0 + 5, T)
    # two racing writers of the same fact: exactly one applies it
    results = await asyncio.gather(*[
        pay_db.save_attempt(db, a1.out_trade_no, paid, was_state="pending", now_ms=T0 + 5)
        for _ in range(5)])
    assert sum(r.applied for r in results) == 1
    assert sum(r.order_paid_now for r in results) == 1
    got = await pay_db.get_order(db, o.order_id)
    assert got.state == "paid" and got.paid_trade_no == a1.out_trade_no and not got.settled
    assert [x.order_id for x in await pay_db.unsettled_paid_orders(db)] == [o.order_id]
    await pay_db.mark_settled(db, o.order_id)
    assert await pay_db.unsettled_paid_orders(db) == []
    # an attempt we thought closed turns out paid too: the storage says it is a duplicate
    with pytest.raises(pay_db.OrderStateError):
        await pay_db.start_attempt(db, o.order_id, draft("k-0000002"), now_ms=T0)


async def test_refunds_are_idempotent_and_never_exceed_the_payment(db: Database) -> None:
    o, _ = await pay_db.create_order(db, order())
    a, _ = await pay_db.start_attempt(db, o.order_id, draft("k-0000003"), now_ms=T0)
    with pytest.raises(pay_db.OrderStateError):  # not paid yet
        await refund_db.create_refund(db, refund(o.order_id, "r-1", 100))
    paid = lc.observed(a.as_view(), Trade(a.out_trade_no, TradeState.SUCCESS, 1300), T0, T)
    await pay_db.save_attempt(db, a.out_trade_no, paid, was_state="pending", now_ms=T0)
    r1, created = await refund_db.create_refund(db, refund(o.order_id, "r-1", 1000))
    assert created and r1.out_trade_no == a.out_trade_no
    _, created = await refund_db.create_refund(db, refund(o.order_id, "r-1", 1000))
    assert not created
    with pytest.raises(AlreadyExistsError):
        await refund_db.create_refund(db, refund(o.order_id, "r-1", 999))
    with pytest.raises(pay_db.OrderStateError):  # 1000 + 400 > 1300
        await refund_db.create_refund(db, refund(o.order_id, "r-2", 400))
    flips = await asyncio.gather(*[refund_db.set_refund_state(
        db, "r-1", was="pending", state="success", now_ms=T0) for _ in range(4)])
    assert sum(flips) == 1
    got = await pay_db.get_order(db, o.order_id)
    assert got.refunded_fen == 1000 and got.state == "paid"
    await refund_db.create_refund(db, refund(o.order_id, "r-2", 300))
    await refund_db.set_refund_state(db, "r-2", was="pending", state="success", now_ms=T0)
    got = await pay_db.get_order(db, o.order_id)
    assert got.refunded_fen == 1300 and got.state == "refunded"


async def test_unknown_orders_and_closed_orders(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await pay_db.start_attempt(db, new_order_id(), draft("k-0000004"), now_ms=T0)
    o, _ = await pay_db.create_order(db, order())
    assert await pay_db.expired_open_orders(db, T0 + 900_000) == [o.order_id]
    closed = await pay_db.close_order(db, o.order_id, now_ms=T0 + 900_000)
    assert closed.state == "closed"
    with pytest.raises(pay_db.OrderStateError):
        await pay_db.start_attempt(db, o.order_id, draft("k-0000005"), now_ms=T0)


def refund(order_id: str, no: str, amount: int) -> RefundRecord:
    return RefundRecord(out_refund_no=no, order_id=order_id, out_trade_no="",
                        amount_fen=amount, state="pending", created_ms=T0, updated_ms=T0)


async def test_a_second_payment_waits_in_the_sweepers_list_until_its_refund_is_recorded(
        db: Database) -> None:
    o, _ = await pay_db.create_order(db, order(key="pos-key-0002"))
    first, _ = await pay_db.start_attempt(db, o.order_id, draft("k-0000010"), now_ms=T0)
    await pay_db.save_attempt(db, first.out_trade_no, lc.closed(first.as_view()),
                              was_state="pending", now_ms=T0)
    second, _ = await pay_db.start_attempt(db, o.order_id, draft("k-0000011"), now_ms=T0)
    paid = Trade(second.out_trade_no, TradeState.SUCCESS, 1300)
    await pay_db.save_attempt(db, second.out_trade_no, lc.observed(second.as_view(), paid, T0,
                                                                   T),
                              was_state="pending", now_ms=T0)
    assert await pay_db.unrefunded_second_payments(db) == []
    # the provider says the closed first QR was paid after all (scanned while closing)
    late = Trade(first.out_trade_no, TradeState.SUCCESS, 1300)
    closed = await pay_db.get_attempt(db, first.out_trade_no)
    saved = await pay_db.save_attempt(db, first.out_trade_no,
                                      lc.observed(closed.as_view(), late, T0, T),
                                      was_state="closed", now_ms=T0)
    assert saved.duplicate_payment
    [left] = await pay_db.unrefunded_second_payments(db)
    assert left.out_trade_no == first.out_trade_no
    await refund_db.create_refund(db, refund(o.order_id, "dup-1", 1300),
                                  trade_no=first.out_trade_no)
    assert await pay_db.unrefunded_second_payments(db) == []
    got = await pay_db.get_order(db, o.order_id)
    assert got.paid_trade_no == second.out_trade_no
