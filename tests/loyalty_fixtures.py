"""Helpers for the loyalty storage tests: brands, members with memberships, a second
connection pool on the same database (a second controller process)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage_fixtures import PG_URL

from broker.storage import Database, default_sqlite_url
from broker.storage.loyalty_records import MemberRecord, MembershipRecord, protect_phone
from broker.storage.members import create_member, join_brand
from broker.storage.signage import create_brand
from broker.storage.signage_records import BrandRecord, token_sha256

PHONE_KEY = b"test-phone-key-0123456789abcdef!"
T0 = 1_700_000_000_000
BRAND = "freshmart"
_names = itertools.count(1)


async def seed_brand(db: Database, brand_id: str = BRAND) -> str:
    await create_brand(db, BrandRecord(brand_id, brand_id.title(), token_sha256(brand_id), T0))
    return brand_id


async def new_member(db: Database, *brands: str, phone: str | None = None,
                     birthday: str | None = None) -> MemberRecord:
    """A stored member who joined `brands` (default: BRAND)."""
    fields = None if phone is None else protect_phone(phone, PHONE_KEY)
    member = MemberRecord.new(f"Shopper {next(_names)}", T0, phone=fields, birthday=birthday)
    await create_member(db, member)
    for brand_id in brands or (BRAND,):
        await join_brand(db, MembershipRecord(member.member_id, brand_id, T0))
    return member


@asynccontextmanager
async def second_process(db: Database) -> AsyncIterator[Database]:
    """Another `Database` (own pool, own write lock) on the same database: what a second
    controller process sees."""
    if db.dialect == "postgresql":
        other = await Database.open(PG_URL, schema=db.schema)
    else:
        url = db.engine.url.database
        assert url is not None
        other = await Database.open(default_sqlite_url(url))
    try:
        yield other
    finally:
        await other.close()
