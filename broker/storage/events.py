"""Engagement events: the ingest hot path and a few read helpers.

`insert_events` stores a batch in one transaction and skips any (device_id, seq) already stored,
so a re-delivered event (QoS 1 retries, outbox replays after power loss) is kept exactly once;
for the same key the first stored row wins. Rows are not validated here: they come from
`EventBatch` payloads that the wire layer has validated, with `data` already encoded as JSON.

How it is fast:
- SQLite, `insert_event_batches` (the ingest path): `BEGIN IMMEDIATE`, one
  `INSERT ... SELECT ... FROM json_each(?) ON CONFLICT DO NOTHING` over the whole flush, then
  `COMMIT`; the count of new rows is `changes()` (exact). See `_SQLITE_INSERT_FLUSH` for why one
  statement beats `executemany` here.
- SQLite, `insert_events` (rows already as tuples): one `INSERT ... ON CONFLICT DO NOTHING` run
  by aiosqlite's own `executemany` (no per-row SQLAlchemy work), then `COMMIT`; the count of new
  rows is the cursor's rowcount, summed by sqlite3 (exact).
- PostgreSQL: `COPY` (binary) into a per-connection temporary table, then one
  `INSERT ... SELECT ... ON CONFLICT DO NOTHING`; the count is the INSERT's status (exact).
  Measured faster than asyncpg `executemany` and than `INSERT ... SELECT FROM unnest(arrays)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import orjson
from sqlalchemy import func, select

from broker.storage.database import PG_EVENTS_STAGING, Database
from broker.storage.schema import events
from kiosk.wire.batch_decoder import rows_of

# (device_id, seq, ts_ms, type, data_json, received_ms)
EventRow = tuple[str, int, int, str, str, int]
EVENT_COLUMNS: tuple[str, ...] = ("device_id", "seq", "ts_ms", "type", "data", "received_ms")

_COLS = ", ".join(EVENT_COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO events ({_COLS}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (device_id, seq) DO NOTHING"
)
_PG_INSERT_STAGED = (
    f"INSERT INTO events ({_COLS}) SELECT {_COLS} FROM {PG_EVENTS_STAGING} "
    "ON CONFLICT (device_id, seq) DO NOTHING"
)


async def insert_events(db: Database, rows: Sequence[EventRow]) -> int:
    """Store `rows` in one transaction, skipping stored (device_id, seq); return how many were new.

    When this returns, every row of `rows` is committed (new or from before), so each seq may be
    acknowledged to its device (on SQLite with synchronous=NORMAL, a power cut of the machine
    can still lose the last commits: see `Database.open`). On error nothing of the batch is
    stored and the driver's own exception propagates (`sqlite3.Error`, `asyncpg.PostgresError`,
    `OSError`), not a SQLAlchemy one: this path does not go through SQLAlchemy.
    """
    if not rows:
        return 0
    if db.dialect == "postgresql":
        async with db.driver_write() as pg:
            await pg.copy_records_to_table(PG_EVENTS_STAGING, records=rows, columns=EVENT_COLUMNS)
            status: str = await pg.execute(_PG_INSERT_STAGED)
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <n>"
    async with db.driver_write() as sqlite:
        cursor = await sqlite.executemany(_SQLITE_INSERT, rows)
        return int(cursor.rowcount)  # sqlite3 sums the changes over the batch


# A received batch as the ingest buffers it: (device_id, rows, received_ms), where `rows` is the
# wire layer's `DecodedBatch.rows`: a JSON array of `[seq, ts_ms, type, data]`, built by the
# decoder from the values it validated (`data` a JSON string holding the object as sent).
BatchRow = tuple[str, bytes, int]

# One statement per flush: SQLite expands the flush document in C. Python's sqlite3 releases
# the GIL around every step of an `executemany`, i.e. per row, and takes it back for the next
# row's binding; with the event loop busy receiving, each hand-back could wait out the
# interpreter's switch interval (5 ms). Here the GIL is released once for the whole flush.
# Measured, 500,000 rows with another Python thread busy: executemany 9.1 s, this 3.4 s.
# The CTE is MATERIALIZED so each batch's array is extracted once, not once per event.
_SQLITE_INSERT_FLUSH = (
    "WITH b AS MATERIALIZED (SELECT value->>0 AS device_id, value->1 AS events,"
    " value->>2 AS received_ms FROM json_each(?)) "
    f"INSERT INTO events ({_COLS}) SELECT b.device_id, e.value->>0, e.value->>1, e.value->>2,"
    " e.value->>3, b.received_ms FROM b, json_each(b.events) AS e WHERE true"
    " ON CONFLICT (device_id, seq) DO NOTHING"
)


def flush_document(batches: Iterable[BatchRow]) -> str:
    """`[[device_id, rows, received_ms], ...]`: the rows documents spliced in, not re-encoded."""
    return (b"[" + b",".join(b"[%b,%b,%d]" % (orjson.dumps(device_id), rows, received_ms)
                             for device_id, rows, received_ms in batches) + b"]").decode()


def _rows(batches: Iterable[BatchRow]) -> Iterator[EventRow]:
    for device_id, rows, received_ms in batches:
        for seq, ts_ms, type_, data in rows_of(rows):
            yield device_id, seq, ts_ms, type_, data, received_ms


async def insert_event_batches(db: Database, batches: Sequence[BatchRow]) -> int:
    """Store decoded batches in one transaction; return how many rows were new.

    Same contract as `insert_events` (stored (device_id, seq) skipped, all or nothing). The
    rows stored are those the wire decoder validated, never re-read from a terminal's payload:
    with a repeated key in a payload, the value that was validated and acknowledged is stored.
    """
    if not batches:
        return 0
    if db.dialect == "postgresql":
        return await insert_events(db, list(_rows(batches)))
    doc = flush_document(batches)
    async with db.driver_write() as sqlite:
        await sqlite.execute(_SQLITE_INSERT_FLUSH, (doc,))
        async with sqlite.execute("SELECT changes()") as cursor:
            row = await cursor.fetchone()
        return int(row[0])


async def count_events(db: Database, device_id: str | None = None) -> int:
    query = select(func.count()).select_from(events)
    if device_id is not None:
        query = query.where(events.c.device_id == device_id)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def device_seqs(db: Database, device_id: str) -> list[int]:
    """The stored seqs of `device_id`, ascending."""
    query = select(events.c.seq).where(events.c.device_id == device_id).order_by(events.c.seq)
    async with db.read() as conn:
        return [int(seq) for seq in (await conn.execute(query)).scalars()]


async def list_events(
    db: Database, device_id: str, *, after_seq: int = 0, limit: int | None = None
) -> list[EventRow]:
    """Stored rows of `device_id` with seq > `after_seq`, ascending by seq."""
    query = (
        select(*(events.c[name] for name in EVENT_COLUMNS))
        .where(events.c.device_id == device_id, events.c.seq > after_seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    async with db.read() as conn:
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in await conn.execute(query)]


async def events_per_type(
    db: Database, *, since_ms: int | None = None, until_ms: int | None = None
) -> dict[str, int]:
    """Count of events per type with `since_ms <= ts_ms < until_ms` (bounds optional)."""
    query = select(events.c.type, func.count()).group_by(events.c.type)
    if since_ms is not None:
        query = query.where(events.c.ts_ms >= since_ms)
    if until_ms is not None:
        query = query.where(events.c.ts_ms < until_ms)
    async with db.read() as conn:
        return {str(t): int(n) for t, n in await conn.execute(query)}
