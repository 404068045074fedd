"""Opening the controller database: SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg).

`Database.write()` is the one way to write. On SQLite it takes an in-process lock and begins with
`BEGIN IMMEDIATE`, so writers of this process queue on an asyncio lock instead of spinning on
SQLITE_BUSY, and a transaction never fails half-way when upgrading from reader to writer. Reads
(`Database.read()`) run concurrently with writes (WAL). Other processes writing the same SQLite
file wait up to the busy timeout; PostgreSQL is the choice for several controller processes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from broker.storage import ad_claims_schema, loyalty_schema, payments_schema  # noqa: F401
from broker.storage.loop_sqlite import (
    LOOP_BUSY_TIMEOUT_MS,
    file_lock,
    loop_transaction,
    loop_write,
)
from broker.storage.schema import metadata
from broker.storage.schema_upgrade import add_missing_columns

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
# WAL; a 32 MiB page cache per connection and checkpoints every ~40 MiB of WAL: measured to raise
# batch insert speed ~1.7x over the defaults (see `insert_events`). `synchronous` is set apart.
# 16 KiB pages (a new file only: an existing database keeps its page size) cut the event
# insert's CPU by 5-9% against 4 KiB (measured, 500k rows in 250-batch transactions).
SQLITE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA page_size=16384",
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-32768",
    "PRAGMA wal_autocheckpoint=2500",  # pages: ~40 MiB of WAL
    "PRAGMA journal_size_limit=67108864",
)
# Per-connection staging table for PostgreSQL batch ingest (COPY, then INSERT ... SELECT).
PG_EVENTS_STAGING = "_events_in"
_PG_STAGING_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {PG_EVENTS_STAGING} (device_id VARCHAR(63), seq BIGINT, "
    "ts_ms BIGINT, type VARCHAR(64), data TEXT, received_ms BIGINT) ON COMMIT DELETE ROWS"
)
_SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def default_sqlite_url(path: str | Path) -> str:
    """`sqlite+aiosqlite:///` URL of the database file at `path` (made absolute)."""
    return f"sqlite+aiosqlite:///{Path(path).expanduser().resolve()}"


def _sqlite_on_connect(synchronous: str,
                       busy_timeout_ms: int | None = None) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (its legacy mode skips BEGIN before SELECT
        # and DDL); `_sqlite_on_begin` emits it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            extra = () if busy_timeout_ms is None else (f"PRAGMA busy_timeout={busy_timeout_ms}",)
            for pragma in (*SQLITE_PRAGMAS, f"PRAGMA synchronous={synchronous}", *extra):
                cursor.execute(pragma)
        finally:
            cursor.close()

    return on_connect


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _pg_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.run_async(lambda driver: driver.execute(_PG_STAGING_DDL))


class Database:
    """An open controller database; make one with `await Database.open(url)`."""

    def __init__(self, engine: AsyncEngine, *, schema: str | None = None,
                 loop_engine: Engine | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_engine = (
            engine.execution_options(sqlite_begin="IMMEDIATE") if self._sqlite else engine
        )
        self._write_lock: asyncio.Lock | None = None
        if self._sqlite:
            path = engine.url.database or ""
            self._write_lock = (file_lock(str(Path(path).resolve()))
                                if path and path != ":memory:" else asyncio.Lock())
        # SQLite: reads and writes on the loop thread (see `loop_sqlite`); None: all async
        self._loop_engine = loop_engine
        self._loop_write_engine = (loop_engine.execution_options(sqlite_begin="IMMEDIATE")
                                   if loop_engine is not None else None)

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        schema: str | None = None,
        connect_timeout_s: float = 10.0,
        sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        echo: bool = False,
        loop_thread: bool = True,
    ) -> Database:
        """Connect (and check the connection) to `url`.

        `schema` (PostgreSQL only) puts every table in that schema through the connection's
        search_path; tests use it to isolate runs. `sqlite_synchronous`: with "NORMAL" (WAL)
        a crash of the process loses nothing, but a power cut of the machine can lose the last
        committed transactions (never corrupts); "FULL" fsyncs every commit and survives power
        loss, measured ~20% slower batch inserts. `loop_thread` (SQLite only): run `read()` and
        `write()` statements on the event loop's thread (`loop_sqlite`); False keeps every
        statement on aiosqlite's worker thread. Raises the driver's error when the database
        cannot be reached.
        """
        if sqlite_synchronous not in ("NORMAL", "FULL"):
            raise ValueError(
                f"sqlite_synchronous must be NORMAL or FULL, not {sqlite_synchronous!r}"
            )
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if backend == "sqlite":
            if schema is not None:
                raise ValueError("schema= is only supported on PostgreSQL")
            _make_parent_dir(parsed)
        elif backend == "postgresql":
            connect_args: dict[str, Any] = {"timeout": connect_timeout_s}
            if schema is not None:
                if not _SCHEMA_NAME_RE.match(schema):
                    raise ValueError(f"invalid schema name {schema!r}: use [a-z0-9_], 1-63 chars")
                connect_args["server_settings"] = {"search_path": schema}
            kwargs.update(connect_args=connect_args, pool_pre_ping=True)
        else:
            raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
        engine = create_async_engine(parsed, **kwargs)
        loop_engine = None
        if backend == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect(sqlite_synchronous))
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
            if loop_thread:
                loop_engine = create_engine(parsed.set(drivername="sqlite+pysqlite"),
                                            echo=echo)
                event.listen(loop_engine, "connect", _sqlite_on_connect(
                    sqlite_synchronous, busy_timeout_ms=LOOP_BUSY_TIMEOUT_MS))
                event.listen(loop_engine, "begin", _sqlite_on_begin)
        else:
            event.listen(engine.sync_engine, "connect", _pg_on_connect)
        try:
            async with engine.connect():
                pass
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, schema=schema, loop_engine=loop_engine)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    async def create_schema(self) -> None:
        """Create whatever tables and indexes are missing, and add columns a newer version
        added to existing tables (`schema_upgrade`); safe to call on every start."""
        async with self.write() as conn:
            if self.schema is not None:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.run_sync(metadata.create_all, checkfirst=True)
            added = await conn.run_sync(add_missing_columns, metadata, self.schema)
        if added:
            log.warning("database upgraded: added column(s) %s", ", ".join(added))

    async def drop_schema(self) -> None:
        """Drop every table (and the PostgreSQL schema given to `open`). Destroys all data."""
        async with self.write() as conn:
            if self.schema is not None:
                await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            else:
                await conn.run_sync(metadata.drop_all, checkfirst=True)

    async def close(self) -> None:
        if self._loop_engine is not None:
            self._loop_engine.dispose()
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction (a consistent snapshot on both engines)."""
        if self._loop_engine is not None:
            with loop_transaction(self._loop_engine) as loop_conn:
                yield loop_conn  # type: ignore[misc]
            return
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on normal exit, else rolled back.

        Not re-entrant: do not call another writing function while inside.
        """
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            if self._loop_write_engine is not None:
                async with loop_write(self._loop_write_engine,
                                      SQLITE_BUSY_TIMEOUT_MS / 1000) as loop_conn:
                    yield loop_conn  # type: ignore[misc]
                return
            async with self._write_engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def driver_write(self) -> AsyncIterator[Any]:
        """The driver's own connection (aiosqlite / asyncpg) in one write transaction.

        For hot paths that skip SQLAlchemy: aiosqlite's own calls cost one thread hop each where
        SQLAlchemy's adapter costs two. Committed on normal exit, else rolled back.
        """
        if self._write_lock is None:
            async with self.engine.connect() as conn:
                pg = (await conn.get_raw_connection()).driver_connection
                assert pg is not None
                async with pg.transaction():
                    yield pg
            return
        async with self._write_lock, self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.execute("BEGIN IMMEDIATE")
            try:
                yield driver
            except BaseException:
                await driver.rollback()
                raise
            await driver.commit()


def _make_parent_dir(url: URL) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
