"""Members, their wallet identities and their brand memberships.

- A member is our own id ('m-...'); wallets know a payer by (provider, app_id, payer_id) and
  one member has one identity per app it paid with. `ensure_wallet_member` is the
  pay-as-membership step: the identity's member, else the member with the same phone (the
  profile is reused across brands), else a new member - atomic and safe under concurrent joins
  of the same payer (the identity and the phone hash are unique; the loser of a race drops the
  member it created and returns the winner's).
- Phones are stored as keyed hash + masked form + last four digits (see `loyalty_schema`);
  `member_by_phone` takes the hash (`loyalty_records.phone_hmac`), never the number.
- Joining a brand is exactly-once per (member, brand); the membership row also carries the
  cached points balance (see `points`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError
from broker.storage.loyalty_records import MemberRecord, MembershipRecord, WalletIdentity
from broker.storage.loyalty_schema import brand_memberships, members, wallet_identities
from broker.storage.records import _check_ms
from broker.storage.schema import brands

_mb = members.c
_w = wallet_identities.c
_ms = brand_memberships.c


def _member(row: Any) -> MemberRecord:
    return MemberRecord(**row._mapping)


def _membership(row: Any) -> MembershipRecord:
    return MembershipRecord(**row._mapping)


def _member_values(member: MemberRecord) -> dict[str, Any]:
    values = asdict(member)
    values["stored_value_fen"] = 0  # only the stored-value ledger moves it
    return values


async def create_member(db: Database, member: MemberRecord) -> None:
    """Store a new member; `AlreadyExistsError` when the id or the phone hash is taken."""
    stmt = (dialect_insert(db.dialect, members).values(_member_values(member))
            .on_conflict_do_nothing().returning(_mb.member_id))
    async with db.write() as conn:
        if (await conn.execute(stmt)).first() is None:
            raise AlreadyExistsError(f"member {member.member_id!r} (or its phone) exists already")


async def get_member(db: Database, member_id: str) -> MemberRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(members).where(_mb.member_id == member_id))).first()
    return None if row is None else _member(row)


async def member_by_phone(db: Database, phone_hmac: str) -> MemberRecord | None:
    """The member whose phone has this keyed hash (`loyalty_records.phone_hmac`)."""
    async with db.read() as conn:
        row = (await conn.execute(select(members).where(_mb.phone_hmac == phone_hmac))).first()
    return None if row is None else _member(row)


async def _identity_member(conn: AsyncConnection, identity: WalletIdentity) -> MemberRecord | None:
    query = (select(members).join(wallet_identities, _w.member_id == _mb.member_id)
             .where(_w.provider == identity.provider, _w.app_id == identity.app_id,
                    _w.payer_id == identity.payer_id))
    row = (await conn.execute(query)).first()
    return None if row is None else _member(row)


async def member_for_wallet(db: Database, identity: WalletIdentity) -> MemberRecord | None:
    """The member this wallet payer belongs to, or None."""
    async with db.read() as conn:
        return await _identity_member(conn, identity)


async def ensure_wallet_member(
    db: Database, identity: WalletIdentity, profile: MemberRecord, now_ms: int,
) -> tuple[MemberRecord, bool]:
    """The payer's member, linking or creating it: (member, True when `profile` was stored).

    Order: the identity's member; else the member with `profile`'s phone hash (the identity is
    linked to it); else `profile` is stored and linked. One transaction, race-safe.
    """
    _check_ms("wallet identity", "now_ms", now_ms)
    async with db.write() as conn:
        known = await _identity_member(conn, identity)
        if known is not None:
            return known, False
        member: MemberRecord | None = None
        if profile.phone_hmac is not None:
            row = (await conn.execute(
                select(members).where(_mb.phone_hmac == profile.phone_hmac))).first()
            member = None if row is None else _member(row)
        created = False
        if member is None:
            stmt = (dialect_insert(db.dialect, members).values(_member_values(profile))
                    .on_conflict_do_nothing().returning(_mb.member_id))
            if (await conn.execute(stmt)).first() is not None:
                member, created = profile, True
            else:  # a concurrent join stored this phone (or, improbably, this id) first
                row = (await conn.execute(select(members).where(
                    _mb.phone_hmac == profile.phone_hmac))).first()
                if row is None:
                    raise AlreadyExistsError(f"member id {profile.member_id!r} is taken")
                member = _member(row)
        link = (dialect_insert(db.dialect, wallet_identities)
                .values(**asdict(identity), member_id=member.member_id, created_ms=now_ms)
                .on_conflict_do_nothing().returning(_w.member_id))
        if (await conn.execute(link)).first() is not None:
            return member, created
        # a concurrent join linked this identity first: undo ours and return theirs
        if created:
            await conn.execute(delete(members).where(_mb.member_id == member.member_id))
        winner = await _identity_member(conn, identity)
        assert winner is not None
        return winner, False


async def link_wallet(db: Database, identity: WalletIdentity, member_id: str,
                      now_ms: int) -> bool:
    """Link a wallet identity to a member: True when new, False when already linked to it.

    `AlreadyExistsError` when it belongs to another member, `NotFoundError` for no member.
    """
    async with db.write() as conn:
        if (await conn.execute(select(_mb.member_id).where(_mb.member_id == member_id))
                ).first() is None:
            raise NotFoundError(f"member {member_id!r} does not exist")
        stmt = (dialect_insert(db.dialect, wallet_identities)
                .values(**asdict(identity), member_id=member_id, created_ms=now_ms)
                .on_conflict_do_nothing().returning(_w.member_id))
        if (await conn.execute(stmt)).first() is not None:
            return True
        owner = await _identity_member(conn, identity)
    if owner is not None and owner.member_id == member_id:
        return False
    raise AlreadyExistsError(f"wallet identity {identity.provider}/{identity.app_id} is linked "
                             "to another member")


async def list_wallet_identities(db: Database, member_id: str) -> list[WalletIdentity]:
    query = (select(_w.provider, _w.app_id, _w.payer_id).where(_w.member_id == member_id)
             .order_by(_w.provider, _w.app_id, _w.payer_id))
    async with db.read() as conn:
        return [WalletIdentity(*row) for row in (await conn.execute(query)).all()]


async def set_birthday(db: Database, member_id: str, birthday: str | None) -> bool:
    """Set (or clear) the member's 'MM-DD' birthday; False when there is no such member."""
    member = MemberRecord(member_id, "x", 0, birthday=birthday)  # validates the value
    stmt = update(members).where(_mb.member_id == member_id).values(birthday=member.birthday)
    async with db.write() as conn:
        return (await conn.execute(stmt)).rowcount == 1


# ---- brand memberships ----------------------------------------------------------------------


async def join_brand(db: Database, membership: MembershipRecord) -> tuple[MembershipRecord, bool]:
    """Store the membership once: (stored, True), or (the existing one, False) on a repeat.

    The points fields of `membership` are ignored (a new membership starts at zero).
    `NotFoundError` when the member or the brand does not exist.
    """
    values = asdict(membership) | {"points_available": 0, "points_held": 0}
    key = (_ms.member_id == membership.member_id, _ms.brand_id == membership.brand_id)
    async with db.write() as conn:
        if (await conn.execute(select(_mb.member_id).where(
                _mb.member_id == membership.member_id))).first() is None:
            raise NotFoundError(f"member {membership.member_id!r} does not exist")
        if (await conn.execute(select(brands.c.brand_id).where(
                brands.c.brand_id == membership.brand_id))).first() is None:
            raise NotFoundError(f"brand {membership.brand_id!r} does not exist")
        stmt = (dialect_insert(db.dialect, brand_memberships).values(values)
                .on_conflict_do_nothing(index_elements=["member_id", "brand_id"])
                .returning(_ms.member_id))
        created = (await conn.execute(stmt)).first() is not None
        row = (await conn.execute(select(brand_memberships).where(*key))).one()
    return _membership(row), created


async def get_membership(db: Database, member_id: str, brand_id: str) -> MembershipRecord | None:
    query = select(brand_memberships).where(_ms.member_id == member_id, _ms.brand_id == brand_id)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else _membership(row)


async def list_memberships(db: Database, member_id: str) -> list[MembershipRecord]:
    """The member's brands, oldest membership first (the profile a terminal offers)."""
    query = (select(brand_memberships).where(_ms.member_id == member_id)
             .order_by(_ms.joined_ms, _ms.brand_id))
    async with db.read() as conn:
        return [_membership(r) for r in (await conn.execute(query)).all()]


async def set_tier(db: Database, member_id: str, brand_id: str, tier: str,
                   review_due_ms: int | None) -> bool:
    """Set the membership's tier and next review time; False when there is no membership."""
    MembershipRecord(member_id, brand_id, 0, tier=tier, tier_review_due_ms=review_due_ms)
    stmt = (update(brand_memberships)
            .where(_ms.member_id == member_id, _ms.brand_id == brand_id)
            .values(tier=tier, tier_review_due_ms=review_due_ms))
    async with db.write() as conn:
        return (await conn.execute(stmt)).rowcount == 1


async def memberships_due_for_review(db: Database, now_ms: int,
                                     limit: int = 1000) -> list[MembershipRecord]:
    """Memberships whose tier review is due (`tier_review_due_ms <= now_ms`), oldest first."""
    query = (select(brand_memberships)
             .where(_ms.tier_review_due_ms.is_not(None), _ms.tier_review_due_ms <= now_ms)
             .order_by(_ms.tier_review_due_ms, _ms.member_id, _ms.brand_id).limit(limit))
    async with db.read() as conn:
        return [_membership(r) for r in (await conn.execute(query)).all()]


async def members_with_birthday(db: Database, brand_id: str, month_day: str) -> list[str]:
    """Ids of the brand's members born on `month_day` ('MM-DD'), sorted (birthday coupons)."""
    MemberRecord("m-00000000", "x", 0, birthday=month_day)  # validates the value
    query = (select(_mb.member_id).join(brand_memberships, _ms.member_id == _mb.member_id)
             .where(_mb.birthday == month_day, _ms.brand_id == brand_id)
             .order_by(_mb.member_id))
    async with db.read() as conn:
        return list((await conn.execute(query)).scalars())

