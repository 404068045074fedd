"""Fraud flags as a reviewer sees them, and their resolution (loop-bound).

A flag names two orders paid with one credential too far apart too fast; both orders' points
are held until someone decides. `cleared` releases them (unless another open flag still names
an order), `confirmed` voids them (`storage.fraud.resolve_fraud_flag`). Each order is shown
with its store, amount, member and the points it earned, with their status.
"""

from __future__ import annotations

from typing import Any, Literal

from broker.storage import fraud as fraud_db
from broker.storage import member_spend
from broker.storage import payments as pay_db
from broker.storage.database import Database
from broker.storage.reward_records import FraudFlag

Decision = Literal["cleared", "confirmed"]


class AlreadyResolved(Exception):
    def __init__(self, flag: FraudFlag) -> None:
        super().__init__(f"fraud flag {flag.flag_id} was {flag.status} already")
        self.flag = flag


async def _order(db: Database, order_id: str) -> dict[str, Any]:
    order = await pay_db.get_order(db, order_id)
    if order is None:
        return {"order_id": order_id}
    earned = [{"points": e.delta, "status": e.status}
              for e in await member_spend.order_points_entries(db, order_id) if e.kind == "earn"]
    return {"order_id": order_id, "store_id": order.store_id, "brand_id": order.brand_id,
            "amount_fen": order.payable_fen, "paid_ms": order.paid_ms,
            "member_id": order.member_id, "earned": earned[0] if earned else None}


async def flag_view(db: Database, flag: FraudFlag) -> dict[str, Any]:
    km = round(flag.km, 1)
    kmh = None if flag.kmh == float("inf") else round(flag.kmh, 1)
    return {"flag_id": flag.flag_id, "status": flag.status, "km": km, "kmh": kmh,
            "created_ms": flag.created_ms, "resolved_ms": flag.resolved_ms, "note": flag.note,
            "order": await _order(db, flag.order_id),
            "prior_order": await _order(db, flag.prior_order_id)}


async def resolve(db: Database, flag_id: int, decision: Decision, note: str | None,
                  now_ms: int) -> FraudFlag:
    """Resolve the flag; a repeat of the same decision returns it unchanged.

    `NotFoundError` for an unknown flag, `AlreadyResolved` when it was decided otherwise."""
    flag, changed = await fraud_db.resolve_fraud_flag(db, flag_id, decision, now_ms, note=note)
    if not changed and flag.status != decision:
        raise AlreadyResolved(flag)
    return flag
