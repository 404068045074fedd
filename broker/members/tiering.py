"""Member tiers in action (loop-bound): the upgrade after a purchase and the yearly review.

* After every credited purchase the membership's rolling 12-month spend (net of refunds, on the
  store's calendar) is looked up and `tiers.upgrade` applied: crossing a threshold raises the
  tier at once (the next purchase earns at the new tier's multiplier). A raised tier is
  reviewed a year later (`job_calendar.next_review_ms`).
* The daily review takes the memberships whose review is due and sets the tier the last 12
  months earn (`tiers.review`, which can lower it); a tier above the lowest is reviewed again
  a year later, the lowest never.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from broker.loyalty.job_calendar import next_review_ms
from broker.loyalty.tiers import review, upgrade, window_start_ms
from broker.members.context import MemberContext
from broker.storage import member_spend
from broker.storage import members as member_db
from broker.storage.loyalty_records import MembershipRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReviewReport:
    reviewed: int = 0
    changed: int = 0


class TierKeeper:
    def __init__(self, ctx: MemberContext) -> None:
        self.ctx = ctx

    async def _spend(self, m: MembershipRecord, now_ms: int, tz: str) -> int:
        return await member_spend.rolling_spend(self.ctx.db, m.member_id, m.brand_id,
                                                window_start_ms(now_ms, tz), now_ms)

    def _lowest(self, brand_id: str) -> str:
        return self.ctx.programme(brand_id).ladder.tiers[0][0]

    async def after_purchase(self, member_id: str, brand_id: str, tz: str,
                             now_ms: int | None = None) -> str | None:
        """Raise the tier when the spend earns more; returns the new tier, None if unchanged."""
        now = self.ctx.now_ms() if now_ms is None else now_ms
        membership = await member_db.get_membership(self.ctx.db, member_id, brand_id)
        if membership is None:
            return None
        ladder = self.ctx.programme(brand_id).ladder
        try:
            earned = upgrade(membership.tier, await self._spend(membership, now, tz), ladder)
        except ValueError:  # a tier the brand's ladder no longer has: the review sorts it out
            log.warning("membership %s/%s has unknown tier %r", member_id, brand_id,
                        membership.tier)
            return None
        if earned == membership.tier:
            return None
        await member_db.set_tier(self.ctx.db, member_id, brand_id, earned,
                                 next_review_ms(now, tz))
        log.info("member %s at %s: %s -> %s", member_id, brand_id, membership.tier, earned)
        return earned

    async def review_due(self, now_ms: int, tz: str, *, batch: int = 500) -> ReviewReport:
        """Review every membership whose review is due at `now_ms` (in batches)."""
        reviewed = changed = 0
        while True:
            due = await member_db.memberships_due_for_review(self.ctx.db, now_ms, limit=batch)
            for m in due:
                ladder = self.ctx.programme(m.brand_id).ladder
                spend = await self._spend(m, now_ms, tz)
                try:
                    tier = review(m.tier, spend, True, ladder)
                except ValueError:  # unknown tier: start again from what the spend earns
                    tier = review(self._lowest(m.brand_id), spend, True, ladder)
                next_due = None if tier == self._lowest(m.brand_id) else next_review_ms(now_ms,
                                                                                         tz)
                await member_db.set_tier(self.ctx.db, m.member_id, m.brand_id, tier, next_due)
                reviewed += 1
                changed += tier != m.tier
            if len(due) < batch:
                return ReviewReport(reviewed, changed)
