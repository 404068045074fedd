"""Property tests (hypothesis) on both engines: random sequences of ledger operations behave
like a plain in-memory model, and the cached balances always equal the sums of the entries;
random concurrent debits never overdraw."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loyalty_fixtures import T0, new_member, seed_brand
from storage_fixtures import db as db  # the fixture

from broker.storage import Database
from broker.storage.loyalty_errors import InsufficientBalanceError, LedgerConflictError
from broker.storage.loyalty_records import Balance, LedgerEntry, StoredValueEntry
from broker.storage.points import (
    balance,
    credit_order,
    hold_order_points,
    list_points_entries,
    post_points,
    redeem_points,
    release_order_points,
    return_redeemed_points,
    reverse_order_points,
    verify_points_balances,
    void_order_points,
)
from broker.storage.stored_value import (
    post_stored_value,
    stored_value_balance,
    verify_stored_value_balances,
)

_brands = itertools.count(1)
N = st.integers(0, 4)
OPS = st.lists(st.one_of(
    st.tuples(st.just("credit"), N),
    st.tuples(st.just("redeem"), st.integers(0, 1), N, st.integers(1, 60)),
    st.tuples(st.just("redeem"), st.integers(0, 1), N, st.none()),  # all that is available
    st.tuples(st.just("return"), N),
    st.tuples(st.just("reverse"), N, st.integers(0, 2), st.integers(1, 40)),
    st.tuples(st.just("hold"), N),
    st.tuples(st.just("release"), N),
    st.tuples(st.just("void"), N),
    st.tuples(st.just("expire"), st.integers(0, 1), N, st.integers(1, 30)),
), max_size=30)
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass
class Row:
    member: str
    delta: int
    order: str | None
    status: str = "posted"


class Model:
    """The ledger as a dict of (kind, ref) -> Row; balances are plain sums."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}

    def balance(self, member: str) -> Balance:
        def total(status: str) -> int:
            return sum(r.delta for r in self.rows.values()
                       if r.member == member and r.status == status)
        return Balance(total("posted"), total("held"))

    def debit(self, kind: str, ref: str, member: str, points: int) -> str:
        row = self.rows.get((kind, ref))
        if row is not None:
            return "repeat" if (row.member, row.delta) == (member, -points) else "conflict"
        if self.balance(member).available < points:
            return "insufficient"
        self.rows[(kind, ref)] = Row(member, -points, None)
        return "new"

    def restatus(self, order: str, old: tuple[str, ...], new: str) -> None:
        for (kind, _), row in self.rows.items():
            if row.order == order and kind in ("earn", "refund_reversal") and row.status in old:
                row.status = new


async def outcome(call: Any) -> str:
    try:
        result = await call
    except InsufficientBalanceError:
        return "insufficient"
    except LedgerConflictError:
        return "conflict"
    if result is None:
        return "none"
    return "new" if result[1] else "repeat"


async def apply(db: Database, model: Model, brand: str, members: list[str],
                op: tuple[Any, ...]) -> None:
    name, *args = op
    got: str | None = None
    want: str | None = None
    if name == "credit":
        order, member, points = f"o-{args[0]}", members[args[0] % 2], 10 + 7 * args[0]
        got = await outcome(credit_order(db, member_id=member, brand_id=brand, order_id=order,
                                         amount_fen=1_000, points=points, paid_ms=T0))
        want = "repeat" if ("earn", order) in model.rows else "new"
        model.rows.setdefault(("earn", order), Row(member, points, order))
    elif name in ("redeem", "expire"):
        member, points = members[args[0]], args[2]
        if points is None:  # the edge: exactly the available balance (or 1 when none)
            points = max(model.balance(member).available, 1)
        ref = f"{'pa' if name == 'redeem' else 'ex'}-{args[1]}"
        if name == "redeem":
            call = redeem_points(db, member_id=member, brand_id=brand, points=points, ref=ref,
                                 now_ms=T0)
        else:
            call = post_points(db, LedgerEntry(member, brand, -points, "expire", ref, T0))
        got = await outcome(call)
        returned = name == "redeem" and ("redeem_return", ref) in model.rows
        want = "conflict" if returned else model.debit(name, ref, member, points)
    elif name == "return":
        ref = f"pa-{args[0]}"
        got = await outcome(return_redeemed_points(db, brand_id=brand, ref=ref, now_ms=T0))
        spent = model.rows.get(("redeem", ref))
        want = "none" if spent is None else (
            "repeat" if ("redeem_return", ref) in model.rows else "new")
        if spent is not None:
            model.rows.setdefault(("redeem_return", ref), Row(spent.member, -spent.delta, None))
    elif name == "reverse":
        order, ref, points = f"o-{args[0]}", f"rf-{args[0]}-{args[1]}", args[2]
        got = await outcome(reverse_order_points(
            db, brand_id=brand, order_id=order, refund_ref=ref, points=points,
            order_refunded_fen=0, now_ms=T0))
        earned = model.rows.get(("earn", order))
        if ("refund_reversal", ref) in model.rows:
            want = "repeat"
        elif earned is None or earned.status == "void":
            want = "none"
        else:
            left = earned.delta + sum(
                r.delta for (k, _), r in model.rows.items()
                if k == "refund_reversal" and r.order == order and r.status != "void")
            amount = min(points, left)
            want = "new" if amount > 0 else "none"
            if amount > 0:
                model.rows[("refund_reversal", ref)] = Row(earned.member, -amount, order,
                                                           earned.status)
    else:
        order = f"o-{args[0]}"
        change = {"hold": (hold_order_points, ("posted",), "held"),
                  "release": (release_order_points, ("held",), "posted"),
                  "void": (void_order_points, ("held", "posted"), "void")}[name]
        await change[0](db, [order], T0)
        model.restatus(order, change[1], change[2])
    assert got == want, (op, got, want)
    for member in members:
        assert await balance(db, member, brand) == model.balance(member), op


@PROPERTY
@given(ops=OPS)
async def test_random_ledger_operations_match_the_model(db: Database,
                                                        ops: list[tuple[Any, ...]]) -> None:
    brand = await seed_brand(db, f"brand-{next(_brands)}")
    members = [(await new_member(db, brand)).member_id for _ in range(2)]
    model = Model()
    for op in ops:
        await apply(db, model, brand, members, op)
    assert await verify_points_balances(db) == []
    stored = {(e.kind, e.ref): (e.member_id, e.delta, e.status)
              for m in members for e in await list_points_entries(db, m, brand, limit=1000)}
    assert stored == {k: (r.member, r.delta, r.status) for k, r in model.rows.items()}


@PROPERTY
@given(start=st.integers(0, 500), debits=st.lists(st.integers(1, 200), min_size=1, max_size=12))
async def test_concurrent_debits_never_overdraw(db: Database, start: int,
                                                debits: list[int]) -> None:
    brand = await seed_brand(db, f"brand-{next(_brands)}")
    member = (await new_member(db, brand)).member_id
    if start:
        await credit_order(db, member_id=member, brand_id=brand, order_id="o-start",
                           amount_fen=start, points=start, paid_ms=T0)
        await post_stored_value(db, StoredValueEntry(member, start, "topup", f"tp-{brand}", T0))

    async def redeem(i: int, points: int) -> int:
        try:
            await redeem_points(db, member_id=member, brand_id=brand, points=points,
                                ref=f"pa-{i}", now_ms=T0)
        except InsufficientBalanceError:
            return 0
        return points

    async def pay(i: int, fen: int) -> int:
        try:
            await post_stored_value(db, StoredValueEntry(member, -fen, "payment",
                                                         f"otn-{brand}-{i}", T0))
        except InsufficientBalanceError:
            return 0
        return fen

    spent = await asyncio.gather(*(redeem(i, p) for i, p in enumerate(debits)))
    paid = await asyncio.gather(*(pay(i, p) for i, p in enumerate(debits)))
    points_left = (await balance(db, member, brand)).available
    assert points_left == start - sum(spent) >= 0
    assert await stored_value_balance(db, member) == start - sum(paid) >= 0
    # whatever failed really did not fit in what was left
    assert all(p > points_left for p, s in zip(debits, spent, strict=True) if not s)
    assert await verify_points_balances(db) == []
    assert await verify_stored_value_balances(db) == []
