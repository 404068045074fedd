"""Stores: where terminals stand (city, district, format, footfall, tags, time zone)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select

from broker.storage._sql import upsert
from broker.storage.database import Database
from broker.storage.records import StoreRecord
from broker.storage.schema import stores


def store_from_row(row: Any) -> StoreRecord:
    values = dict(row._mapping)
    values["tags"] = tuple(values["tags"] or ())
    return StoreRecord(**values)


async def upsert_store(db: Database, store: StoreRecord) -> None:
    """Create the store, or update every field of an existing one except `created_ms`."""
    values = asdict(store)
    values["tags"] = list(store.tags)
    async with db.write() as conn:
        await conn.execute(upsert(db.dialect, stores, values, keep=("created_ms",)))


async def get_store(db: Database, store_id: str) -> StoreRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(stores).where(stores.c.store_id == store_id))).first()
    return None if row is None else store_from_row(row)


async def list_stores(db: Database, *, city: str | None = None) -> list[StoreRecord]:
    """Every store (or those in `city`), ordered by store_id."""
    query = select(stores).order_by(stores.c.store_id)
    if city is not None:
        query = query.where(stores.c.city == city)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [store_from_row(row) for row in rows]
