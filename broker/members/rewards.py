"""What a settled purchase earns besides points (loop-bound): a tier upgrade and a neighbouring
shop's coupon.

* `after_credit`: once a purchase is credited, the member's tier is raised when the rolling
  12-month spend crosses the next threshold (`tiering`).
* `cross_store`: when the brand's programme names a `cross_store` template (a partner shop's
  coupon, in the partner's brand and stores), the paying member gets it, once per order
  (issue ref = the order id), recording the store whose purchase earned it.

Neither may undo a payment: failures are logged and the next settlement pass (the sweeper)
or purchase tries again.
"""

from __future__ import annotations

import logging
import secrets

from broker.loyalty import coupon_codes
from broker.loyalty.coupons import issue
from broker.members.context import MemberContext
from broker.members.programme import coupon_record
from broker.members.tiering import TierKeeper
from broker.storage import coupons as coupon_db
from broker.storage import stores as store_db
from broker.storage.errors import StorageError
from broker.storage.payments_records import OrderRecord
from broker.storage.reward_records import CouponRecord

log = logging.getLogger(__name__)
DEFAULT_TZ = "Asia/Shanghai"


class PurchaseRewards:
    def __init__(self, ctx: MemberContext) -> None:
        self.ctx = ctx
        self.tiers = TierKeeper(ctx)

    async def _tz(self, store_id: str) -> str:
        store = await store_db.get_store(self.ctx.db, store_id)
        return store.timezone if store else DEFAULT_TZ

    async def after_credit(self, order: OrderRecord, member_id: str) -> None:
        try:
            await self.tiers.after_purchase(member_id, order.brand_id,
                                            await self._tz(order.store_id))
        except (StorageError, ValueError) as exc:
            log.warning("order %s: tier upgrade failed: %s", order.order_id, exc)
        await self.cross_store(order, member_id)

    async def cross_store(self, order: OrderRecord, member_id: str) -> CouponRecord | None:
        """Issue the programme's cross-store coupon for this order (once); None without one."""
        template = self.ctx.programme(order.brand_id).cross_store
        if template is None:
            return None
        now = self.ctx.now_ms()
        try:
            coupon = issue(template, coupon_codes.new_code(secrets.token_bytes), now,
                           member_id=member_id, source_store_id=order.store_id)
            record, created = await coupon_db.issue_coupon(self.ctx.db, coupon_record(
                coupon, kind="cross_store", issue_ref=order.order_id, now_ms=now,
                order_id=order.order_id))
        except (StorageError, ValueError) as exc:
            log.warning("order %s: cross-store coupon not issued: %s", order.order_id, exc)
            return None
        if created:
            log.info("order %s: cross-store coupon %s of %s for %s", order.order_id,
                     record.code, record.brand_id, member_id)
        return record
