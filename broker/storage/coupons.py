"""Coupons: issued exactly once, redeemed at most once, released when the order is undone.

- `issue_coupon` is exactly-once per (brand_id, kind, issue_ref): issuing the welcome coupon
  of a membership again (issue_ref = the member id) returns the first coupon. Codes are given
  by the caller (random, unguessable); a code in use by another coupon is `AlreadyExistsError`.
- `redeem_coupon` is one conditional UPDATE (state 'issued' -> 'redeemed' with every rule of
  validity in its WHERE), so two orders racing for one coupon cannot both win. Redeeming again
  for the same order returns the coupon (idempotent); for another order it raises
  `CouponUnavailableError('already_used')`.
- `release_coupon` / `release_order_coupons` put it back to 'issued' when the order is
  cancelled or refunded; `void_coupon` withdraws an unused coupon.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import or_, select, update

from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError
from broker.storage.loyalty_errors import CouponUnavailableError
from broker.storage.loyalty_schema import coupons, members
from broker.storage.reward_records import CouponRecord
from broker.storage.schema import brands

_c = coupons.c


def _coupon(row: Any) -> CouponRecord:
    return CouponRecord(**row._mapping)


async def issue_coupon(db: Database, coupon: CouponRecord) -> tuple[CouponRecord, bool]:
    """Store a new 'issued' coupon once: (stored, True), or (the earlier one, False) when one of
    the same (brand_id, kind, issue_ref) exists. `AlreadyExistsError` when the code is taken,
    `NotFoundError` for an unknown brand or owner."""
    if coupon.state != "issued":
        raise ValueError(f"coupon {coupon.code!r}: a new coupon is 'issued', not {coupon.state!r}")
    stmt = (dialect_insert(db.dialect, coupons).values(asdict(coupon))
            .on_conflict_do_nothing().returning(_c.code))
    async with db.write() as conn:
        if (await conn.execute(select(brands.c.brand_id).where(
                brands.c.brand_id == coupon.brand_id))).first() is None:
            raise NotFoundError(f"coupon {coupon.code!r}: brand {coupon.brand_id!r} is unknown")
        if coupon.owner_member_id is not None and (await conn.execute(select(
                members.c.member_id).where(members.c.member_id == coupon.owner_member_id))
                ).first() is None:
            raise NotFoundError(f"coupon {coupon.code!r}: member {coupon.owner_member_id!r} "
                                "does not exist")
        if (await conn.execute(stmt)).first() is not None:
            return coupon, True
        if coupon.issue_ref is not None:
            row = (await conn.execute(select(coupons).where(
                _c.brand_id == coupon.brand_id, _c.kind == coupon.kind,
                _c.issue_ref == coupon.issue_ref))).first()
            if row is not None:
                return _coupon(row), False
    raise AlreadyExistsError(f"coupon code {coupon.code!r} is in use")


async def get_coupon(db: Database, code: str) -> CouponRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(coupons).where(_c.code == code))).first()
    return None if row is None else _coupon(row)


async def list_member_coupons(db: Database, member_id: str, brand_id: str | None = None,
                              *, state: str | None = "issued") -> list[CouponRecord]:
    """The member's own coupons (of one brand, in one state when given), newest first."""
    query = select(coupons).where(_c.owner_member_id == member_id)
    if brand_id is not None:
        query = query.where(_c.brand_id == brand_id)
    if state is not None:
        query = query.where(_c.state == state)
    query = query.order_by(_c.issued_ms.desc(), _c.code)
    async with db.read() as conn:
        return [_coupon(r) for r in (await conn.execute(query)).all()]


def _refusal(coupon: CouponRecord, *, brand_id: str, store_id: str, member_id: str | None,
             order_amount_fen: int, now_ms: int) -> str:
    if coupon.state != "issued":
        return "already_used" if coupon.state == "redeemed" else coupon.state
    if coupon.brand_id != brand_id:
        return "wrong_brand"
    if coupon.store_id is not None and coupon.store_id != store_id:
        return "wrong_store"
    if now_ms < coupon.valid_from_ms:
        return "not_yet_valid"
    if now_ms >= coupon.valid_to_ms:
        return "expired"
    if coupon.owner_member_id is not None and coupon.owner_member_id != member_id:
        return "not_owner"
    # every rule holds now: it was redeemed by a concurrent order after our UPDATE looked
    return "below_min_spend" if order_amount_fen < coupon.min_spend_fen else "already_used"


async def redeem_coupon(
    db: Database, code: str, *, order_id: str, brand_id: str, store_id: str,
    member_id: str | None, order_amount_fen: int, now_ms: int,
) -> CouponRecord:
    """Use the coupon for `order_id` (see the module doc); returns it as redeemed.

    `NotFoundError` for an unknown code; `CouponUnavailableError` with the reason otherwise.
    """
    valid = (
        _c.code == code, _c.state == "issued", _c.brand_id == brand_id,
        or_(_c.store_id.is_(None), _c.store_id == store_id),
        _c.valid_from_ms <= now_ms, _c.valid_to_ms > now_ms,
        _c.min_spend_fen <= order_amount_fen,
        or_(_c.owner_member_id.is_(None), _c.owner_member_id == member_id),
    )
    stmt = (update(coupons).where(*valid)
            .values(state="redeemed", redeemed_order_id=order_id, redeemed_by=member_id,
                    redeemed_ms=now_ms, updated_ms=now_ms)
            .returning(*coupons.c))
    async with db.write() as conn:
        row = (await conn.execute(stmt)).first()
        if row is None:
            row = (await conn.execute(select(coupons).where(_c.code == code))).first()
            if row is None:
                raise NotFoundError(f"coupon {code!r} does not exist")
            coupon = _coupon(row)
            if coupon.state == "redeemed" and coupon.redeemed_order_id == order_id:
                return coupon  # a repeat for the same order
            raise CouponUnavailableError(code, _refusal(
                coupon, brand_id=brand_id, store_id=store_id, member_id=member_id,
                order_amount_fen=order_amount_fen, now_ms=now_ms))
    return _coupon(row)


_RELEASED = {"state": "issued", "redeemed_order_id": None, "redeemed_by": None,
             "redeemed_ms": None}


async def release_coupon(db: Database, code: str, order_id: str, now_ms: int) -> bool:
    """Give the coupon back (its order was cancelled/refunded): True when it was redeemed by
    `order_id` and is now 'issued' again; False otherwise (already released, other order)."""
    stmt = (update(coupons)
            .where(_c.code == code, _c.state == "redeemed", _c.redeemed_order_id == order_id)
            .values(**_RELEASED, updated_ms=now_ms))
    async with db.write() as conn:
        return (await conn.execute(stmt)).rowcount == 1


async def release_order_coupons(db: Database, order_id: str, now_ms: int) -> list[str]:
    """Release every coupon redeemed by `order_id`; returns their codes, sorted."""
    stmt = (update(coupons).where(_c.redeemed_order_id == order_id, _c.state == "redeemed")
            .values(**_RELEASED, updated_ms=now_ms).returning(_c.code))
    async with db.write() as conn:
        return sorted((await conn.execute(stmt)).scalars())


async def void_coupon(db: Database, code: str, now_ms: int) -> bool:
    """Withdraw an unused coupon: True when it was 'issued' and is now 'void'."""
    stmt = (update(coupons).where(_c.code == code, _c.state == "issued")
            .values(state="void", updated_ms=now_ms))
    async with db.write() as conn:
        return (await conn.execute(stmt)).rowcount == 1
