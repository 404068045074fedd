"""Store coordinates (for the impossible-travel check of payment credentials)."""

from __future__ import annotations

from sqlalchemy import select

from broker.storage._sql import upsert
from broker.storage.database import Database
from broker.storage.payments_schema import store_locations


async def set_store_location(db: Database, store_id: str, lat: float, lon: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"store {store_id!r}: ({lat}, {lon}) is not a place on Earth")
    async with db.write() as conn:
        await conn.execute(upsert(db.dialect, store_locations,
                                  {"store_id": store_id, "lat": lat, "lon": lon}, keep=()))


async def store_locations_of(db: Database, store_ids: list[str]) -> dict[str, tuple[float, float]]:
    async with db.read() as conn:
        rows = (await conn.execute(select(store_locations).where(
            store_locations.c.store_id.in_(store_ids)))).all()
    return {r.store_id: (r.lat, r.lon) for r in rows}
