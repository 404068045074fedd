"""SQLite statements run on the event loop's own thread (a plain, synchronous connection).

A local SQLite file in WAL mode answers a small statement in tens of microseconds; handing it
to aiosqlite's worker thread and back costs far more than that (measured here: a one-row
transaction 1.6-1.9 ms of CPU through SQLAlchemy's asyncio adapter and aiosqlite, 0.4 ms on
the loop thread). So `Database.read()`/`write()` on SQLite use this connection, with the same
`await conn.execute(...)` interface as SQLAlchemy's `AsyncConnection`; the bulk event ingest
keeps aiosqlite (`Database.driver_write`), where one hop carries thousands of rows.

The cost: the loop waits while SQLite works. That is fine for one controller process on a
local file (writers of this process queue on the asyncio write lock, WAL readers never
block); several processes writing one SQLite file would make a writer wait on the file lock
with the loop stopped, which is why several controllers use PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

# The loop-thread connection waits at most this long inside SQLite for another process's
# write lock (the loop stands still meanwhile); then it lets go and retries after an async
# sleep, up to the usual busy timeout in all.
LOOP_BUSY_TIMEOUT_MS = 50
_FILE_LOCKS: dict[str, asyncio.Lock] = {}


class LoopConnection:
    """The subset of `AsyncConnection` the storage modules use, over a sync `Connection`."""

    def __init__(self, conn: Connection) -> None:
        self.sync_connection = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        return self.sync_connection.execute(statement, parameters, **kw)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self.sync_connection.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return fn(self.sync_connection, *args, **kw)

    def get_execution_options(self) -> Any:
        return self.sync_connection.get_execution_options()


@contextmanager
def loop_transaction(engine: Engine) -> Iterator[LoopConnection]:
    with engine.begin() as conn:
        yield LoopConnection(conn)


def file_lock(path: str) -> asyncio.Lock:
    """One write lock per database file in this process: two `Database` objects on the same
    file (two controllers in one test process) queue on it instead of on SQLite's lock."""
    lock = _FILE_LOCKS.get(path)
    if lock is None:
        lock = _FILE_LOCKS[path] = asyncio.Lock()
    return lock


def _locked(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


@asynccontextmanager
async def loop_write(engine: Engine, busy_timeout_s: float) -> AsyncIterator[LoopConnection]:
    """A write transaction (BEGIN IMMEDIATE via the engine's options) on the loop thread; when
    another process holds the file's write lock, wait for it with async sleeps."""
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        conn = engine.connect()
        try:
            trans = conn.begin()
        except OperationalError as exc:
            conn.close()
            if not _locked(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
            continue
        break
    try:
        try:
            yield LoopConnection(conn)
        except BaseException:
            trans.rollback()
            raise
        trans.commit()
    finally:
        conn.close()
