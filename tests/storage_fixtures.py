"""Fixtures for the storage tests: a fresh controller database on SQLite and on PostgreSQL.

Import the fixtures into a test module (`from storage_fixtures import db`). Every test gets its
own SQLite file and its own uniquely named PostgreSQL schema (dropped afterwards), so repeated
and parallel runs never see each other's rows. PostgreSQL comes from STORE_TEST_PG_URL (default
below; set it empty to skip PostgreSQL); when it cannot be reached those tests are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.storage import (
    Database,
    DeviceRecord,
    StoreRecord,
    add_device,
    default_sqlite_url,
    upsert_store,
)

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("STORE_TEST_PG_URL", DEFAULT_PG_URL)
_pg_unreachable: list[str] = []  # the reason, once PostgreSQL failed to answer


async def open_test_db(kind: str, tmp_path: Path) -> tuple[Database, str | None]:
    """Open an empty database of `kind` ('sqlite' | 'postgresql') with the schema created."""
    if kind == "sqlite":
        db = await Database.open(default_sqlite_url(tmp_path / "controller.db"))
        await db.create_schema()
        return db, None
    if not PG_URL:
        pytest.skip("STORE_TEST_PG_URL is empty: PostgreSQL tests disabled")
    if _pg_unreachable:
        pytest.skip(_pg_unreachable[0])
    schema = f"test_storage_{uuid.uuid4().hex[:12]}"
    try:
        db = await Database.open(PG_URL, schema=schema, connect_timeout_s=3)
    except Exception as exc:  # refused, timed out, unknown database, bad credentials...
        _pg_unreachable.append(f"PostgreSQL unreachable at {PG_URL}: {exc!r}")
        pytest.skip(_pg_unreachable[0])
    await db.create_schema()
    return db, schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database, schema = await open_test_db(request.param, tmp_path)
    try:
        yield database
    finally:
        if schema is not None:
            await database.drop_schema()
        await database.close()


def make_store(store_id: str = "sh-xuhui-001", **changes: object) -> StoreRecord:
    values: dict[str, object] = {
        "store_id": store_id,
        "name": "Xuhui Fresh Market",
        "city": "Shanghai",
        "district": "Xuhui",
        "format": "supermarket",
        "footfall_tier": 4,
        "timezone": "Asia/Shanghai",
        "created_ms": 1_700_000_000_000,
        "tags": ("family", "office-lunch"),
    }
    values.update(changes)
    return StoreRecord(**values)  # type: ignore[arg-type]


def make_device(
    device_id: str = "term-0001", store_id: str = "sh-xuhui-001", **changes: object
) -> DeviceRecord:
    values: dict[str, object] = {
        "device_id": device_id,
        "store_id": store_id,
        "screen_size_in": 10.1,
        "orientation": "landscape",
        "resolution": "1280x800",
        "created_ms": 1_700_000_000_000,
    }
    values.update(changes)
    return DeviceRecord(**values)  # type: ignore[arg-type]


async def seed_device(db: Database, device_id: str = "term-0001") -> DeviceRecord:
    """A store and one of its devices."""
    await upsert_store(db, make_store())
    device = make_device(device_id)
    await add_device(db, device)
    return device
