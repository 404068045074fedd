"""Coupons claimed at a terminal from an ad's offer: once per request, limited per terminal.

`claim_coupon` does everything in one write transaction: a repeat of a request (same terminal,
same idempotency key) returns the coupon it issued the first time; otherwise the terminal's
claims of the campaign in the last `window_ms` and the campaign's claims in all are counted
against the limits, and the new coupon and its claim are stored together. On PostgreSQL the
campaign's row is locked first, so concurrent claims of one campaign are counted one after
another (SQLite serialises writers anyway).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from broker.storage._sql import dialect_insert
from broker.storage.ad_claims_schema import ad_coupon_claims
from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, StorageError
from broker.storage.loyalty_schema import coupons
from broker.storage.reward_records import CouponRecord
from broker.storage.schema import campaigns

_a = ad_coupon_claims.c


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    per_device: int  # claims of one campaign by one terminal within `window_ms`
    window_ms: int
    total: int | None = None  # the campaign's claims on all terminals (None: no cap)


class ClaimRefusedError(StorageError):
    """The claim is over a limit; nothing was stored. `retry_after_ms`: when the terminal's
    oldest claim in the window leaves it (rate_limited), else None."""

    def __init__(self, reason: Literal["rate_limited", "exhausted"], message: str,
                 retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_ms = retry_after_ms


class KeyReusedError(StorageError):
    """The idempotency key was used by this terminal to claim another campaign's coupon."""


async def _earlier(conn: AsyncConnection, device_id: str,
                   key: str) -> tuple[str, CouponRecord] | None:
    query = (select(_a.campaign_id, coupons).join(coupons, coupons.c.code == _a.code)
             .where(_a.device_id == device_id, _a.idempotency_key == key))
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    fields = dict(row._mapping)
    campaign_id = fields.pop("campaign_id")
    return campaign_id, CouponRecord(**fields)


def _repeat(found: tuple[str, CouponRecord], campaign_id: str, key: str) -> CouponRecord:
    if found[0] != campaign_id:
        raise KeyReusedError(f"idempotency key {key!r} claimed campaign {found[0]!r} already")
    return found[1]


async def _check_limits(conn: AsyncConnection, campaign_id: str, device_id: str, now_ms: int,
                        limits: ClaimLimits) -> None:
    since = now_ms - limits.window_ms
    recent = (await conn.execute(
        select(func.count(), func.min(_a.claimed_ms))
        .where(_a.campaign_id == campaign_id, _a.device_id == device_id,
               _a.claimed_ms > since))).one()
    if recent[0] >= limits.per_device:
        wait_ms = max(int(recent[1]) + limits.window_ms - now_ms, 1)
        raise ClaimRefusedError(
            "rate_limited", f"this terminal claimed {recent[0]} coupons of campaign "
            f"{campaign_id!r} in the last {limits.window_ms // 60_000} minutes (the most "
            f"allowed); try again in {-(-wait_ms // 1000)} s", wait_ms)
    if limits.total is not None:
        total = (await conn.execute(select(func.count()).where(
            _a.campaign_id == campaign_id))).scalar_one()
        if total >= limits.total:
            raise ClaimRefusedError("exhausted", f"all {limits.total} coupons of campaign "
                                    f"{campaign_id!r} have been claimed")


async def claim_coupon(db: Database, coupon: CouponRecord, *, campaign_id: str, device_id: str,
                       idempotency_key: str, now_ms: int,
                       limits: ClaimLimits) -> tuple[CouponRecord, bool]:
    """Store `coupon` as `device_id`'s claim of `campaign_id`: (coupon, True); or, for a repeat
    of the key, (the coupon issued then, False).

    `ClaimRefusedError` over a limit, `KeyReusedError` for a key used for another campaign,
    `AlreadyExistsError` when the coupon's code is taken (draw another code and call again).
    """
    if coupon.state != "issued" or coupon.owner_member_id is not None:
        raise ValueError(f"coupon {coupon.code!r}: an ad's coupon is a new bearer coupon")
    try:
        async with db.write() as conn:
            found = await _earlier(conn, device_id, idempotency_key)
            if found is not None:
                return _repeat(found, campaign_id, idempotency_key), False
            await conn.execute(select(campaigns.c.campaign_id)
                               .where(campaigns.c.campaign_id == campaign_id).with_for_update())
            await _check_limits(conn, campaign_id, device_id, now_ms, limits)
            stored = (await conn.execute(
                dialect_insert(db.dialect, coupons).values(asdict(coupon))
                .on_conflict_do_nothing().returning(coupons.c.code))).first()
            if stored is None:
                raise AlreadyExistsError(f"coupon code {coupon.code!r} is in use")
            await conn.execute(insert(ad_coupon_claims).values(
                device_id=device_id, idempotency_key=idempotency_key, campaign_id=campaign_id,
                code=coupon.code, claimed_ms=now_ms))
    except IntegrityError:  # the same request, concurrently (PostgreSQL): it won
        async with db.read() as conn:
            found = await _earlier(conn, device_id, idempotency_key)
        if found is None:
            raise
        return _repeat(found, campaign_id, idempotency_key), False
    return coupon, True


async def find_claim(db: Database, device_id: str,
                     idempotency_key: str) -> tuple[str, CouponRecord] | None:
    """(campaign_id, coupon) of the terminal's claim under this key, or None."""
    async with db.read() as conn:
        return await _earlier(conn, device_id, idempotency_key)


async def count_claims(db: Database, campaign_id: str) -> int:
    """The coupons claimed from the campaign's offer so far, on every terminal."""
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).where(
            _a.campaign_id == campaign_id))).scalar_one())
