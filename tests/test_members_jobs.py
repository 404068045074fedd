"""The loyalty jobs and what a settled purchase earns besides points, on a real database
(SQLite and PostgreSQL) with an explicit clock: tier upgrades and reviews, points expiry,
birthday coupons, cross-store coupons."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from loyalty_fixtures import BRAND, new_member, second_process, seed_brand
from storage_fixtures import db as db  # the fixture

from broker.loyalty.coupons import CouponTemplate, FixedOff
from broker.members.context import MemberContext
from broker.members.jobs import JobReport, LoyaltyJobs
from broker.members.programme import Programme, default_programme
from broker.members.settlement import Settlement
from broker.storage import Database
from broker.storage import coupons as coupon_db
from broker.storage import members as member_db
from broker.storage import points as points_db
from broker.storage.payments_records import OrderRecord, new_order_id

TZ = "Asia/Shanghai"


def local_ms(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp()) * 1000


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


def context(db: Database, clock: Clock, *programmes: Programme) -> MemberContext:
    return MemberContext(db, "sandbox", "wx-test-app", {p.brand_id: p for p in programmes},
                         clock=clock)


def paid_order(member_id: str, amount_fen: int, paid_ms: int, brand_id: str = BRAND,
               store_id: str = "sh-01") -> OrderRecord:
    return OrderRecord(
        order_id=new_order_id(), store_id=store_id, device_id="till-01", brand_id=brand_id,
        items=({"sku": "A1", "name": "Goods", "qty": 1, "unit_fen": amount_fen,
                "category": "grocery"},),
        amount_fen=amount_fen, state="paid", source="pos", request_key=new_order_id(),
        request_sha256="a" * 64, created_ms=paid_ms, expires_ms=paid_ms + 900_000,
        updated_ms=paid_ms, member_id=member_id, paid_ms=paid_ms)


async def balance(db: Database, member_id: str, brand_id: str = BRAND) -> int:
    return (await points_db.balance(db, member_id, brand_id)).available


# ---- tiers ---------------------------------------------------------------------------------


async def test_crossing_a_threshold_upgrades_at_once_and_the_next_purchase_earns_more(
        db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    monday = local_ms(2025, 3, 3)  # no double-points day: 1 point per yuan, silver x1.25
    clock = Clock(monday)
    settlement = Settlement(context(db, clock))

    assert await settlement.credit(paid_order(member.member_id, 150_000, monday),
                                   member.member_id) == 1500
    m = await member_db.get_membership(db, member.member_id, BRAND)
    assert m is not None and m.tier == "member" and m.tier_review_due_ms is None

    clock.ms = monday + 3_600_000
    assert await settlement.credit(paid_order(member.member_id, 60_000, clock.ms),
                                   member.member_id) == 600  # earned at the old tier
    m = await member_db.get_membership(db, member.member_id, BRAND)
    assert m is not None and m.tier == "silver"  # 2,100 yuan in 12 months
    assert m.tier_review_due_ms == local_ms(2026, 3, 3, 0)  # reviewed in a year

    clock.ms += 3_600_000
    assert await settlement.credit(paid_order(member.member_id, 10_000, clock.ms),
                                   member.member_id) == 125  # 100 yuan at x1.25


async def test_spend_older_than_twelve_months_does_not_count_for_an_upgrade(
        db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    clock = Clock(local_ms(2024, 3, 1))
    settlement = Settlement(context(db, clock))
    await settlement.credit(paid_order(member.member_id, 150_000, clock.ms), member.member_id)
    clock.ms = local_ms(2025, 3, 3)
    await settlement.credit(paid_order(member.member_id, 60_000, clock.ms), member.member_id)
    m = await member_db.get_membership(db, member.member_id, BRAND)
    assert m is not None and m.tier == "member"


async def test_the_yearly_review_lowers_a_tier_only_once_it_is_due(db: Database) -> None:
    await seed_brand(db)
    lapsed, loyal = await new_member(db), await new_member(db)
    due = local_ms(2026, 3, 3, 0)
    for m in (lapsed, loyal):
        await member_db.set_tier(db, m.member_id, BRAND, "gold", due)
    clock = Clock(local_ms(2025, 9, 1))
    settlement = Settlement(context(db, clock))
    await settlement.credit(paid_order(lapsed.member_id, 50_000, clock.ms), lapsed.member_id)
    await settlement.credit(paid_order(loyal.member_id, 900_000, clock.ms), loyal.member_id)
    jobs = LoyaltyJobs(context(db, clock))

    report = await jobs.run_once(due - 1)
    assert report.tiers_reviewed == 0
    assert (await member_db.get_membership(db, lapsed.member_id, BRAND)).tier == "gold"  # type: ignore[union-attr]

    report = await jobs.run_once(due)
    assert (report.tiers_reviewed, report.tiers_changed) == (2, 1)
    after_lapsed = await member_db.get_membership(db, lapsed.member_id, BRAND)
    after_loyal = await member_db.get_membership(db, loyal.member_id, BRAND)
    assert after_lapsed is not None and after_loyal is not None
    assert (after_lapsed.tier, after_lapsed.tier_review_due_ms) == ("member", None)
    assert (after_loyal.tier, after_loyal.tier_review_due_ms) == ("gold", local_ms(2027, 3, 3, 0))
    assert (await jobs.run_once(due + 60_000)).tiers_reviewed == 0  # nothing due any more


# ---- points expiry -------------------------------------------------------------------------


async def test_points_expire_at_the_end_of_the_24th_month_once_per_date(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db)
    mid = member.member_id
    await points_db.credit_order(db, member_id=mid, brand_id=BRAND, order_id="o-jan",
                                 amount_fen=10_000, points=100, paid_ms=local_ms(2023, 1, 15))
    await points_db.credit_order(db, member_id=mid, brand_id=BRAND, order_id="o-jun",
                                 amount_fen=5_000, points=50, paid_ms=local_ms(2023, 6, 10))
    await points_db.redeem_points(db, member_id=mid, brand_id=BRAND, points=30, ref="pay:x",
                                  now_ms=local_ms(2024, 5, 1))  # spends the oldest points
    jobs = LoyaltyJobs(context(db, Clock(local_ms(2025, 1, 1))))

    assert (await jobs.run_once(local_ms(2025, 1, 31, 23, 59))).points_expired == 0
    first = await jobs.run_once(local_ms(2025, 2, 1, 0))
    assert (first.memberships_expired, first.points_expired) == (1, 70)
    assert await balance(db, mid) == 50
    for later in (local_ms(2025, 2, 1, 0), local_ms(2025, 2, 2), local_ms(2025, 6, 30, 23)):
        assert (await jobs.run_once(later)).points_expired == 0  # once, however often it runs
    assert (await jobs.run_once(local_ms(2025, 7, 1, 0))).points_expired == 50
    expired = [e for e in await points_db.list_points_entries(db, mid, BRAND)
               if e.kind == "expire"]
    assert sorted((e.ref, e.delta) for e in expired) == [
        (f"{mid}:2025-02-01", -70), (f"{mid}:2025-07-01", -50)]
    assert await balance(db, mid) == 0
    assert await points_db.verify_points_balances(db) == []


async def test_two_controllers_running_the_expiry_at_once_expire_the_points_once(
        db: Database) -> None:
    await seed_brand(db)
    members = [await new_member(db) for _ in range(6)]
    for i, m in enumerate(members):
        await points_db.credit_order(db, member_id=m.member_id, brand_id=BRAND,
                                     order_id=f"o-old-{i}", amount_fen=10_000, points=100,
                                     paid_ms=local_ms(2023, 1, 15))
        await points_db.credit_order(db, member_id=m.member_id, brand_id=BRAND,
                                     order_id=f"o-new-{i}", amount_fen=1_000, points=10,
                                     paid_ms=local_ms(2024, 12, 15))
    now = local_ms(2025, 3, 1)
    async with second_process(db) as other:
        one = LoyaltyJobs(context(db, Clock(now)), batch=2)
        two = LoyaltyJobs(context(other, Clock(now)), batch=2)
        reports = await asyncio.gather(one.run_once(now), two.run_once(now))
    assert sum(r.points_expired for r in reports) == 600
    for m in members:
        assert await balance(db, m.member_id) == 10
    assert await points_db.verify_points_balances(db) == []


# ---- birthdays -----------------------------------------------------------------------------


async def test_birthday_coupons_on_the_store_local_date_once_a_year(db: Database) -> None:
    await seed_brand(db)
    today = await new_member(db, birthday="03-10")
    yesterday = await new_member(db, birthday="03-09")
    jobs = LoyaltyJobs(context(db, Clock(0)))
    # 17:00 UTC on 9 March is 01:00 on 10 March in Shanghai
    now = int(datetime(2026, 3, 9, 17, 0, tzinfo=ZoneInfo("UTC")).timestamp()) * 1000

    assert (await jobs.run_once(now)).birthday_coupons == 1
    assert (await jobs.run_once(now + 3_600_000)).birthday_coupons == 0
    got = await coupon_db.list_member_coupons(db, today.member_id, BRAND)
    assert [(c.kind, c.issue_ref, c.amount_off_fen) for c in got] == [
        ("birthday", f"{today.member_id}:2026", 1000)]
    assert got[0].valid_from_ms == now
    assert await coupon_db.list_member_coupons(db, yesterday.member_id, BRAND) == []

    next_year = local_ms(2027, 3, 10, 8)
    assert (await jobs.run_once(next_year)).birthday_coupons == 1
    assert len(await coupon_db.list_member_coupons(db, today.member_id, BRAND)) == 2


async def test_leap_day_birthdays_are_celebrated_on_28_february_in_other_years(
        db: Database) -> None:
    await seed_brand(db)
    leap = await new_member(db, birthday="02-29")
    jobs = LoyaltyJobs(context(db, Clock(0)))
    assert (await jobs.run_once(local_ms(2026, 2, 28))).birthday_coupons == 1
    assert (await jobs.run_once(local_ms(2026, 3, 1))).birthday_coupons == 0
    assert (await jobs.run_once(local_ms(2028, 2, 28))).birthday_coupons == 0  # a leap year
    assert (await jobs.run_once(local_ms(2028, 2, 29))).birthday_coupons == 1
    refs = sorted(c.issue_ref or "" for c in await coupon_db.list_member_coupons(
        db, leap.member_id, BRAND))
    assert refs == [f"{leap.member_id}:2026", f"{leap.member_id}:2028"]


async def test_a_brand_can_have_its_own_birthday_coupon_or_none(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "bakery")
    member = await new_member(db, BRAND, "bakery", birthday="05-01")
    own = CouponTemplate("bday-fm", BRAND, "birthday", FixedOff(2000), min_spend_fen=5000)
    jobs = LoyaltyJobs(context(db, Clock(0)), birthday_templates={BRAND: own, "bakery": None})
    assert (await jobs.run_once(local_ms(2026, 5, 1))).birthday_coupons == 1
    got = await coupon_db.list_member_coupons(db, member.member_id)
    assert [(c.brand_id, c.amount_off_fen, c.min_spend_fen) for c in got] == [
        (BRAND, 2000, 5000)]


# ---- cross-store coupons -------------------------------------------------------------------


async def test_a_settled_order_gives_the_neighbours_coupon_once(db: Database) -> None:
    await seed_brand(db)
    await seed_brand(db, "bakery")
    neighbour = CouponTemplate("bakery-next-door", "bakery", "cross_store", FixedOff(300),
                               min_spend_fen=2000, store_ids=frozenset({"sh-02"}),
                               valid_days=14)
    programme = replace(default_programme(BRAND), cross_store=neighbour)
    member = await new_member(db)
    clock = Clock(local_ms(2025, 3, 3))
    settlement = Settlement(context(db, clock, programme))
    order = paid_order(member.member_id, 5_000, clock.ms)

    await settlement.settle(order)
    await settlement.settle(order)  # the sweeper settling it again
    got = await coupon_db.list_member_coupons(db, member.member_id, "bakery")
    assert [(c.kind, c.store_id, c.amount_off_fen, c.issued_for_order) for c in got] == [
        ("cross_store", "sh-02", 300, order.order_id)]
    assert got[0].valid_to_ms - got[0].valid_from_ms == 14 * 86_400_000

    # a purchase in a brand without a partner gives nothing
    other = paid_order(member.member_id, 5_000, clock.ms, brand_id="bakery")
    await Settlement(context(db, clock, programme)).settle(other)
    assert len(await coupon_db.list_member_coupons(db, member.member_id)) == 1


# ---- the loop ------------------------------------------------------------------------------


async def test_the_jobs_run_once_per_local_date(db: Database) -> None:
    await seed_brand(db)
    member = await new_member(db, birthday="03-04")
    jobs = LoyaltyJobs(context(db, Clock(0)))
    assert await jobs.run_due(local_ms(2025, 3, 3, 0, 5)) == JobReport()
    assert await jobs.run_due(local_ms(2025, 3, 3, 23, 59)) is None  # ran today already
    tomorrow = await jobs.run_due(local_ms(2025, 3, 4, 0, 1))  # just after local midnight
    assert tomorrow is not None and tomorrow.birthday_coupons == 1
    assert len(await coupon_db.list_member_coupons(db, member.member_id)) == 1


async def test_the_job_loop_runs_at_start_and_stops(db: Database) -> None:
    await seed_brand(db)
    clock = Clock(local_ms(2025, 3, 3))
    jobs = LoyaltyJobs(context(db, clock)).start(interval_s=0.01, first_delay_s=0)
    for _ in range(500):
        if jobs.runs:
            break
        await asyncio.sleep(0.01)
    assert jobs.runs == 1 and jobs.last_run_day is not None
    clock.ms += 86_400_000  # the next local day: the loop runs the jobs again
    for _ in range(500):
        if jobs.runs == 2:
            break
        await asyncio.sleep(0.01)
    await jobs.stop()
    assert jobs.runs == 2
    clock.ms += 86_400_000
    await asyncio.sleep(0.05)
    assert jobs.runs == 2  # stopped
