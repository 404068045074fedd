"""After a payment (loop-bound): fraud check, purchase record and points, once.

`settle` runs when an attempt becomes paid and again from the sweeper for any paid order whose
settlement did not finish (a crash in between); every step is exactly-once in storage, so
running it twice credits nothing twice. A refund takes back the points the refunded part
earned and gives back points that paid for it.
"""

from __future__ import annotations

import logging

from broker.loyalty.accrual import points_for
from broker.loyalty.fraud import CredentialUse as Use
from broker.loyalty.fraud import GeoPoint, check_travel
from broker.loyalty.redemption import refund_reversal
from broker.members.context import MemberContext
from broker.members.programme import order_lines
from broker.members.rewards import PurchaseRewards
from broker.storage import fraud as fraud_db
from broker.storage import members as member_db
from broker.storage import payments as pay_db
from broker.storage import points as points_db
from broker.storage import stores as store_db
from broker.storage.loyalty_errors import LedgerConflictError
from broker.storage.payments_records import OrderRecord
from broker.storage.refunds import RefundRecord
from broker.storage.reward_records import CredentialUse, FraudFlag
from broker.storage.store_geo import store_locations_of

log = logging.getLogger(__name__)


class Settlement:
    def __init__(self, ctx: MemberContext) -> None:
        self.ctx = ctx
        self.flags_raised = 0
        self.rewards = PurchaseRewards(ctx)

    async def settle(self, order: OrderRecord) -> None:
        await self._check_travel(order)
        member = await self.ctx.member_of(order)
        if member is None:
            return  # not a member (yet): the terminal offers to join, which credits then
        if order.member_id is None:
            await pay_db.set_member(self.ctx.db, order.order_id, member.member_id)
        if await member_db.get_membership(self.ctx.db, member.member_id, order.brand_id):
            await self.credit(order, member.member_id)
        else:
            await self.rewards.cross_store(order, member.member_id)

    async def points_for(self, order: OrderRecord, tier: str) -> int:
        db = self.ctx.db
        store = await store_db.get_store(db, order.store_id)
        tz = store.timezone if store else "Asia/Shanghai"
        programme = self.ctx.programme(order.brand_id)
        return points_for(order_lines(order.items), order.payable_fen, programme.accrual,
                          tier=tier, store_id=order.store_id, store_tz=tz,
                          at_ms=order.paid_ms or self.ctx.now_ms()).total

    async def credit(self, order: OrderRecord, member_id: str) -> int:
        """Credit the order's points to the member (exactly once); returns the points."""
        db = self.ctx.db
        membership = await member_db.get_membership(db, member_id, order.brand_id)
        tier = membership.tier if membership else "member"
        points = await self.points_for(order, tier)
        try:
            entry, _ = await points_db.credit_order(
                db, member_id=member_id, brand_id=order.brand_id, order_id=order.order_id,
                amount_fen=order.payable_fen, points=points,
                paid_ms=order.paid_ms or self.ctx.now_ms(), store_id=order.store_id,
                now_ms=self.ctx.now_ms())
        except LedgerConflictError as exc:  # credited already, to this member or another
            log.warning("order %s: %s", order.order_id, exc)
            return 0
        await self.rewards.after_credit(order, member_id)
        return entry.delta if entry else 0

    async def _check_travel(self, order: OrderRecord) -> None:
        cred = self.ctx.credential_hash(order)
        if cred is None or order.paid_ms is None:
            return
        db = self.ctx.db
        prior = await fraud_db.last_use(db, cred, exclude_order_id=order.order_id)
        await fraud_db.record_credential_use(db, CredentialUse(
            credential_hash=cred, store_id=order.store_id, used_ms=order.paid_ms,
            order_id=order.order_id))
        if prior is None or prior.store_id == order.store_id:
            return
        geo = await store_locations_of(db, [prior.store_id, order.store_id])
        if len(geo) < 2:
            return
        points = {k: GeoPoint(lat, lon) for k, (lat, lon) in geo.items()}
        verdict = check_travel(Use(cred, prior.store_id, prior.used_ms),
                               Use(cred, order.store_id, order.paid_ms), points)
        if verdict.flagged:
            self.flags_raised += 1
            log.warning("order %s: payer seen %.0f km away %.2f h earlier (%.0f km/h): "
                        "points held for review", order.order_id, verdict.km, verdict.hours,
                        verdict.kmh)
            await fraud_db.raise_fraud_flag(db, FraudFlag(
                credential_hash=cred, order_id=order.order_id, prior_order_id=prior.order_id,
                km=verdict.km, kmh=min(verdict.kmh, 1e9), created_ms=self.ctx.now_ms()))

    async def on_refund(self, order: OrderRecord, refund: RefundRecord) -> None:
        """Take back what the refunded part earned; give back points that paid for it."""
        db, now = self.ctx.db, self.ctx.now_ms()
        member = await self.ctx.member_of(order)
        if member is None:
            return
        earned = await points_db.earned_for_order(db, order.brand_id, order.order_id)
        refunded_before = order.refunded_fen - refund.amount_fen
        back = refund_reversal(points_used=order.points_used, points_earned=earned,
                               paid_fen=order.payable_fen, refunded_before_fen=refunded_before,
                               refund_fen=refund.amount_fen)
        if back.points_revoked:
            await points_db.reverse_order_points(
                db, brand_id=order.brand_id, order_id=order.order_id,
                refund_ref=refund.out_refund_no, points=back.points_revoked,
                order_refunded_fen=order.refunded_fen, now_ms=now)
        if order.refunded_fen >= order.payable_fen and order.points_used:
            await points_db.return_redeemed_points(
                db, brand_id=order.brand_id, ref=redeem_ref(order.order_id), now_ms=now)


def redeem_ref(order_id: str) -> str:
    """The ledger ref of the points that pay part of an order (one redeem per order)."""
    return f"pay:{order_id}"
