"""Issuing many coupons at once (campaigns to a segment), exactly once per issue ref.

`issue_coupon_batch` inserts a batch in one transaction with `ON CONFLICT DO NOTHING`: a
coupon whose (brand_id, kind, issue_ref) exists already is skipped (a re-run of a campaign
issues nothing new). It returns the coupons stored and those to retry under a new code (their
random code collided with another coupon's and their ref is not issued yet).
`first_coupon_with_ref_prefix` finds an earlier coupon of a campaign (to compare its terms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import select

from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.loyalty_schema import coupons
from broker.storage.reward_records import CouponRecord

_c = coupons.c


async def issue_coupon_batch(
    db: Database, batch: Sequence[CouponRecord],
) -> tuple[list[CouponRecord], list[CouponRecord]]:
    """Store the batch's new coupons: (stored, collided codes to retry). Every coupon needs an
    `issue_ref`; the brand and the owners must exist (a foreign key error fails the batch)."""
    if not batch:
        return [], []
    if any(c.issue_ref is None or c.state != "issued" for c in batch):
        raise ValueError("batch coupons are 'issued' and carry an issue_ref")
    stmt = (dialect_insert(db.dialect, coupons).values([asdict(c) for c in batch])
            .on_conflict_do_nothing().returning(_c.code))
    async with db.write() as conn:
        stored_codes = set((await conn.execute(stmt)).scalars())
        missed = [c for c in batch if c.code not in stored_codes]
        known: set[tuple[str, str, str | None]] = set()
        if missed:
            rows = (await conn.execute(select(_c.brand_id, _c.kind, _c.issue_ref).where(
                _c.issue_ref.in_([c.issue_ref for c in missed])))).all()
            known = {(r[0], r[1], r[2]) for r in rows}
    stored = [c for c in batch if c.code in stored_codes]
    retry = [c for c in missed if (c.brand_id, c.kind, c.issue_ref) not in known]
    return stored, retry


async def first_coupon_with_ref_prefix(db: Database, brand_id: str, kind: str,
                                       prefix: str) -> CouponRecord | None:
    """The earliest coupon of the brand and kind whose issue ref starts with `prefix`."""
    query = (select(coupons).where(_c.brand_id == brand_id, _c.kind == kind,
                                   _c.issue_ref.startswith(prefix, autoescape=True))
             .order_by(_c.issued_ms, _c.code).limit(1))
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else CouponRecord(**row._mapping)
