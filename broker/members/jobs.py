"""The daily loyalty jobs (loop-bound): tier reviews, points expiry, birthday coupons.

Every job is idempotent and keyed on the store-local date (`tz`, Asia/Shanghai by default),
so the loop may run them as often as it likes, two controller processes may both run them, and
a run that died half-way is simply finished by the next one:

* tier review: memberships whose review is due get the tier their last 12 months earn
  (`tiering`); a reviewed membership's next review is a year away, so it drops out.
* points expiry: for each membership holding points credited before the expiry horizon, the
  points of expired lots are debited as one `expire` entry per membership and expiry date
  (`storage.points_expiry`, decided and written in one transaction).
* birthday coupons: members of each brand born on today's local date (29 February on 28
  February in other years) get the brand's birthday coupon, once per member and year
  (issue ref 'm-...:2026').

`run_once(now_ms)` runs them all at an explicit moment (tests); `run_due` runs them once per
local date; `async_run(interval_s)` loops forever, checking every `interval_s` whether the date
has changed (so the jobs run at start-up and soon after each local midnight, when tier reviews
fall due and points expire); `start()` / `stop()` run that loop as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from broker.loyalty import coupon_codes
from broker.loyalty.coupons import CouponTemplate, FixedOff, issue
from broker.loyalty.expiry import LedgerEntry as Lot
from broker.loyalty.job_calendar import (
    EXPIRY_KINDS,
    birthday_keys,
    birthday_ref,
    due_expiry,
    expired_before_ms,
)
from broker.loyalty.local_time import local_date
from broker.members.context import MemberContext
from broker.members.programme import coupon_record
from broker.members.tiering import TierKeeper
from broker.storage import coupons as coupon_db
from broker.storage import members as member_db
from broker.storage import points_expiry
from broker.storage import signage as brand_db
from broker.storage.errors import StorageError
from broker.storage.loyalty_errors import InsufficientBalanceError
from broker.storage.loyalty_records import LedgerEntry

log = logging.getLogger(__name__)
DEFAULT_TZ = "Asia/Shanghai"


def default_birthday_template(brand_id: str) -> CouponTemplate:
    """10 yuan off any purchase, valid 30 days (a brand without its own birthday coupon)."""
    return CouponTemplate(template_id="birthday", brand_id=brand_id, kind="birthday",
                          value=FixedOff(1000), min_spend_fen=0, valid_days=30)


@dataclass(frozen=True, slots=True)
class JobReport:
    tiers_reviewed: int = 0
    tiers_changed: int = 0
    memberships_expired: int = 0
    points_expired: int = 0
    birthday_coupons: int = 0


def expiry_entries(entries: list[LedgerEntry]) -> list[Lot]:
    """Stored ledger entries as the expiry rules read them (posted entries only, please)."""
    return [Lot(e.created_ms, e.delta, EXPIRY_KINDS[e.kind]) for e in entries
            if e.kind in EXPIRY_KINDS]


class LoyaltyJobs:
    def __init__(self, ctx: MemberContext, *, tz: str = DEFAULT_TZ, batch: int = 500,
                 birthday_templates: Mapping[str, CouponTemplate | None] | None = None) -> None:
        """`birthday_templates`: per brand (None: no birthday coupon); others get the default."""
        self.ctx = ctx
        self.tz = tz
        self.batch = batch
        self.birthday_templates = dict(birthday_templates or {})
        self.tiers = TierKeeper(ctx)
        self.runs = 0
        self.last_run_day: date | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- the loop ------------------------------------------------------------------------------

    async def run_once(self, now_ms: int | None = None) -> JobReport:
        now = self.ctx.now_ms() if now_ms is None else now_ms
        tiers = await self.tiers.review_due(now, self.tz, batch=self.batch)
        memberships, points = await self.expire_points(now)
        coupons = await self.birthday_coupons(now)
        self.runs += 1
        report = JobReport(tiers.reviewed, tiers.changed, memberships, points, coupons)
        if report != JobReport():
            log.info("loyalty jobs: %s", report)
        return report

    async def run_due(self, now_ms: int | None = None) -> JobReport | None:
        """Run the jobs unless they ran already on this store-local date (None then)."""
        now = self.ctx.now_ms() if now_ms is None else now_ms
        today = local_date(now, self.tz)
        if self.last_run_day == today:
            return None
        report = await self.run_once(now)
        self.last_run_day = today
        return report

    async def async_run(self, interval_s: float = 60.0, first_delay_s: float = 30.0) -> None:
        """Every `interval_s`, run the jobs once per local date (soon after midnight)."""
        await asyncio.sleep(first_delay_s)
        while True:
            try:
                await self.run_due()
            except Exception:  # a bad row or a lost database must not end the loop
                log.exception("loyalty jobs failed; trying again in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    def start(self, interval_s: float = 60.0, first_delay_s: float = 30.0) -> LoyaltyJobs:
        self._task = asyncio.create_task(self.async_run(interval_s, first_delay_s))
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ---- points expiry -------------------------------------------------------------------------

    async def expire_points(self, now_ms: int) -> tuple[int, int]:
        """(memberships debited, points expired) at `now_ms`."""
        months = {self.ctx.programme(b.brand_id).expiry_months
                  for b in await brand_db.list_brands(self.ctx.db)} or {24}
        horizon = expired_before_ms(now_ms, self.tz, min(months))
        count = total = 0
        after: tuple[str, str] | None = None
        while True:
            keys = await points_expiry.memberships_with_credits_before(
                self.ctx.db, horizon, after=after, limit=self.batch)
            for member_id, brand_id in keys:
                debited = await self._expire_one(member_id, brand_id, now_ms)
                count += debited > 0
                total += debited
            if len(keys) < self.batch:
                return count, total
            after = keys[-1]

    async def _expire_one(self, member_id: str, brand_id: str, now_ms: int) -> int:
        months = self.ctx.programme(brand_id).expiry_months

        def decide(entries: list[LedgerEntry]) -> tuple[int, str] | None:
            due = due_expiry(expiry_entries(entries), now_ms, self.tz, months)
            if due is None:
                return None
            return due.points, f"{member_id}:{due.expiry_day.isoformat()}"

        try:
            if decide(await points_expiry.posted_entries(self.ctx.db, member_id,
                                                         brand_id)) is None:
                return 0  # nothing due: no write transaction
            entry = await points_expiry.expire_points(self.ctx.db, member_id, brand_id, now_ms,
                                                      decide)
        except (InsufficientBalanceError, StorageError) as exc:
            log.warning("points expiry of %s at %s: %s", member_id, brand_id, exc)
            return 0
        return 0 if entry is None else -entry.delta

    # ---- birthdays -----------------------------------------------------------------------------

    def birthday_template(self, brand_id: str) -> CouponTemplate | None:
        if brand_id in self.birthday_templates:
            return self.birthday_templates[brand_id]
        return default_birthday_template(brand_id)

    async def birthday_coupons(self, now_ms: int) -> int:
        """Issue today's birthday coupons; returns how many were new."""
        today = local_date(now_ms, self.tz)
        issued = 0
        for brand in await brand_db.list_brands(self.ctx.db):
            template = self.birthday_template(brand.brand_id)
            if template is None:
                continue
            for key in birthday_keys(today):
                for member_id in await member_db.members_with_birthday(
                        self.ctx.db, brand.brand_id, key):
                    issued += await self._birthday_coupon(template, member_id, today, now_ms)
        return issued

    async def _birthday_coupon(self, template: CouponTemplate, member_id: str,
                               today: date, now_ms: int) -> int:
        try:
            coupon = issue(template, coupon_codes.new_code(secrets.token_bytes), now_ms,
                           member_id=member_id)
            _, created = await coupon_db.issue_coupon(self.ctx.db, coupon_record(
                coupon, kind="birthday", issue_ref=birthday_ref(member_id, today),
                now_ms=now_ms))
        except (StorageError, ValueError) as exc:
            log.warning("birthday coupon of %s at %s: %s", member_id, template.brand_id, exc)
            return 0
        return int(created)
