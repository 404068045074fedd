"""Member purchases (written by `points.credit_order` and `receipts.claim_receipt`) and the
RFM query over them.

RFM reads `member_purchases`, not the `earn` entries of the points ledger: a purchase has an
amount (entries have points, which depend on promotions and rates), a purchase may earn no
points at all, and a refund lowers the purchase's `refunded_fen` (spend is net of refunds; a
fully refunded purchase does not count). One row per (brand, order), indexed by
(brand_id, paid_ms) for the window scan.
"""

from __future__ import annotations

from sqlalchemy import func, select

from broker.storage.database import Database
from broker.storage.loyalty_records import PurchaseRecord, RfmRow
from broker.storage.loyalty_schema import member_purchases

_u = member_purchases.c


async def get_purchase(db: Database, brand_id: str, order_id: str) -> PurchaseRecord | None:
    query = select(member_purchases).where(_u.brand_id == brand_id, _u.order_id == order_id)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else PurchaseRecord(**row._mapping)


async def rfm_inputs(db: Database, brand_id: str, since_ms: int, until_ms: int) -> list[RfmRow]:
    """Per member of the brand with purchases paid in [since_ms, until_ms): the last purchase
    time, the number of purchases and the spend in fen (net of refunds), by member id."""
    net = _u.amount_fen - _u.refunded_fen
    query = (select(_u.member_id, func.max(_u.paid_ms), func.count(), func.sum(net))
             .where(_u.brand_id == brand_id, _u.paid_ms >= since_ms, _u.paid_ms < until_ms,
                    net > 0)
             .group_by(_u.member_id).order_by(_u.member_id))
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [RfmRow(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
