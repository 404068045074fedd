"""Opening databases: settings, idempotent schema creation, isolation, concurrency."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect
from storage_fixtures import db as db  # the fixture
from storage_fixtures import make_store, open_test_db

from broker.storage import (
    Database,
    count_events,
    default_sqlite_url,
    get_store,
    insert_events,
    metadata,
    upsert_store,
)
from broker.storage.loop_sqlite import LOOP_BUSY_TIMEOUT_MS


async def test_create_schema_is_idempotent_and_keeps_data(db: Database) -> None:
    await upsert_store(db, make_store())
    await db.create_schema()
    await db.create_schema()
    assert await get_store(db, "sh-xuhui-001") == make_store()
    async with db.read() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert set(metadata.tables) <= tables


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await Database.open(default_sqlite_url(tmp_path / "a" / "b" / "ctl.db"))
    try:
        assert db.dialect == "sqlite"
        async with db.read() as conn:
            pragma = conn.exec_driver_sql
            assert (await pragma("PRAGMA journal_mode")).scalar() == "wal"
            assert (await pragma("PRAGMA foreign_keys")).scalar() == 1
            assert (await pragma("PRAGMA synchronous")).scalar() == 1  # NORMAL
            # statements run on the loop thread wait only briefly inside SQLite; a writer
            # waits out another process's lock with async sleeps (next test)
            assert (await pragma("PRAGMA busy_timeout")).scalar() == LOOP_BUSY_TIMEOUT_MS
    finally:
        await db.close()
    assert (tmp_path / "a" / "b" / "ctl.db").exists()  # parent folders were made


async def test_a_writer_waiting_for_another_process_does_not_stop_the_loop(
        tmp_path: Path) -> None:
    path = tmp_path / "ctl.db"
    db = await Database.open(default_sqlite_url(path))
    await db.create_schema()
    other = sqlite3.connect(path, isolation_level=None)  # "another process" holding the lock
    other.execute("BEGIN IMMEDIATE")
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def write() -> float:
        t0 = time.monotonic()
        async with db.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE waited (x INTEGER)")
        return time.monotonic() - t0

    tick_task = asyncio.create_task(ticker())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.4)
    assert not writer.done()
    # the loop kept running while the write waited: never stopped for more than about one
    # short in-SQLite wait (LOOP_BUSY_TIMEOUT_MS) at a time
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 5 and max(gaps) < LOOP_BUSY_TIMEOUT_MS / 1000 + 0.1
    other.execute("COMMIT")
    waited = await asyncio.wait_for(writer, 5)
    tick_task.cancel()
    other.close()
    await db.close()
    assert waited >= 0.4


async def test_sqlite_full_synchronous_can_be_chosen(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "ctl.db")
    async with await Database.open(url, sqlite_synchronous="FULL") as db, db.read() as conn:
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2


async def test_sqlite_data_survives_reopening(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "ctl.db")
    async with await Database.open(url) as db:
        await db.create_schema()
        await insert_events(db, [("term-0001", 1, 10, "touch", "{}", 11)])
    async with await Database.open(url) as db:
        await db.create_schema()
        assert await count_events(db) == 1


def test_default_sqlite_url_is_absolute(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "x.db")
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/x.db"


async def test_unsupported_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        await Database.open("mysql+aiomysql://u@localhost/x")
    with pytest.raises(ValueError, match="only supported on PostgreSQL"):
        await Database.open(default_sqlite_url(tmp_path / "x.db"), schema="s")
    with pytest.raises(ValueError, match="invalid schema name"):
        await Database.open("postgresql+asyncpg://postgres@127.0.0.1:1/x", schema="a; DROP")


@pytest.mark.postgres
async def test_postgres_test_schemas_are_isolated(tmp_path: Path) -> None:
    first, _ = await open_test_db("postgresql", tmp_path)
    second, _ = await open_test_db("postgresql", tmp_path)
    try:
        await insert_events(first, [("term-0001", 1, 10, "touch", "{}", 11)])
        assert (await count_events(first), await count_events(second)) == (1, 0)
    finally:
        for database in (first, second):
            await database.drop_schema()
            await database.close()


async def test_many_concurrent_writers_do_not_fail(db: Database) -> None:
    """Writers of one process queue up instead of failing with 'database is locked'."""

    async def writer(n: int) -> None:
        for i in range(10):
            await upsert_store(db, make_store(f"store-{n}", footfall_tier=1 + i % 5))
            await insert_events(db, [(f"term-{n:04d}", i + 1, i, "touch", "{}", i)])

    await asyncio.gather(*(writer(n) for n in range(20)))
    assert await count_events(db) == 200
