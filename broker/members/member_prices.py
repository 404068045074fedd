"""Member prices at checkout (loop-bound): once a member of the order's brand is identified
before paying (face pay, `points.apply`), the items' member prices go onto the order as part of
its discount.

Exactly once per order (`member_discount_fen` marks it; a second identification changes
nothing), only while the order is open, and only for a member of the order's brand. Nothing
has to be given back when the order closes unpaid: unlike points and coupons, the member
discount uses up nothing of the member's.
"""

from __future__ import annotations

from broker import storage
from broker.payments.member_pricing import member_discount
from broker.storage import members as member_db
from broker.storage import payments as pay_db
from broker.storage.payments_records import OrderRecord


async def apply_member_prices(db: storage.Database, order: OrderRecord, member_id: str, *,
                              now_ms: int) -> OrderRecord:
    """The order with its member prices applied when `member_id` is a member of its brand;
    otherwise (or when there is nothing to apply) the order as given."""
    if order.state != "open" or order.member_discount_fen:
        return order
    off = member_discount(order.member_totals().saving_fen, order.payable_fen)
    if off == 0:
        return order
    if await member_db.get_membership(db, member_id, order.brand_id) is None:
        return order
    updated, _ = await pay_db.apply_member_discount(db, order.order_id, member_discount_fen=off,
                                                    member_id=member_id, now_ms=now_ms)
    return updated
