"""The terminal's local store: the event outbox plus a small key/value table.

Events stay in the outbox until the controller acknowledges them. Sequence numbers come from
SQLite's AUTOINCREMENT, so a seq is never reused even after acknowledged rows are deleted —
the controller deduplicates by (device, seq), and a reused seq would be dropped as a duplicate.

`SqliteAgentStore` is the real one (aiosqlite, WAL, synchronous=FULL so an acknowledged write
survives power loss). `MemoryAgentStore` has the same behaviour without a disk, for the fleet
simulator's thousands of terminals in one process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from kiosk.wire.messages import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class AgentStore(Protocol):
    async def add_events(self, events: list[tuple[int, str, dict[str, Any]]]) -> list[int]: ...
    async def pending(self, after_seq: int, limit: int) -> list[Event]: ...
    async def ack(self, ranges: list[tuple[int, int]]) -> int: ...
    async def count(self) -> int: ...
    async def get(self, key: str) -> Any | None: ...
    async def put(self, key: str, value: Any) -> None: ...
    async def close(self) -> None: ...


class SqliteAgentStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteAgentStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.executescript(_SCHEMA)
        await db.commit()
        return cls(db)

    async def add_events(self, events: list[tuple[int, str, dict[str, Any]]]) -> list[int]:
        seqs: list[int] = []
        async with self._db.cursor() as cur:
            for ts_ms, type_, data in events:
                await cur.execute(
                    "INSERT INTO outbox (ts_ms, type, data) VALUES (?, ?, ?)",
                    (ts_ms, type_, json.dumps(data, separators=(",", ":"))),
                )
                assert cur.lastrowid is not None
                seqs.append(cur.lastrowid)
        await self._db.commit()
        return seqs

    async def pending(self, after_seq: int, limit: int) -> list[Event]:
        async with self._db.execute(
            "SELECT seq, ts_ms, type, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [
            Event(seq=seq, ts_ms=ts, type=type_, data=json.loads(data))
            for seq, ts, type_, data in rows
        ]

    async def ack(self, ranges: list[tuple[int, int]]) -> int:
        cur = await self._db.executemany(
            "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", [(lo, hi) for lo, hi in ranges]
        )
        await self._db.commit()
        return cur.rowcount

    async def count(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM outbox") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def get(self, key: str) -> Any | None:
        async with self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return json.loads(row[0]) if row else None

    async def put(self, key: str, value: Any) -> None:
        await self._db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
        await self._db.commit()

    async def close(self) -> None:
        await self._db.close()


class MemoryAgentStore:
    def __init__(self) -> None:
        self._rows: dict[int, Event] = {}
        self._last_seq = 0
        self._kv: dict[str, str] = {}

    async def add_events(self, events: list[tuple[int, str, dict[str, Any]]]) -> list[int]:
        seqs = []
        for ts_ms, type_, data in events:
            self._last_seq += 1
            seq = self._last_seq
            # Built by our own code from validated inputs; the batch is validated when sent.
            self._rows[seq] = Event.model_construct(seq=seq, ts_ms=ts_ms, type=type_, data=data)
            seqs.append(self._last_seq)
        return seqs

    async def pending(self, after_seq: int, limit: int) -> list[Event]:
        # Walk the seqs after `after_seq`, not every row: rows sent but not yet acked sit at the
        # front, and the send loop asks again after every ack (a simulated fleet of 1,000
        # terminals asks thousands of times a second).
        out = []
        rows = self._rows
        if len(rows) <= limit:  # few rows: one pass over them is cheapest
            return [e for s, e in rows.items() if s > after_seq]
        for seq in range(max(after_seq, 0) + 1, self._last_seq + 1):
            event = rows.get(seq)
            if event is not None:
                out.append(event)
                if len(out) >= limit:
                    break
        return out

    async def ack(self, ranges: list[tuple[int, int]]) -> int:
        gone = 0
        for lo, hi in ranges:
            if hi - lo > len(self._rows):  # a wide range: walk the rows instead
                doomed = [s for s in self._rows if lo <= s <= hi]
            else:
                doomed = [s for s in range(lo, hi + 1) if s in self._rows]
            for s in doomed:
                del self._rows[s]
            gone += len(doomed)
        return gone

    async def count(self) -> int:
        return len(self._rows)

    async def get(self, key: str) -> Any | None:
        raw = self._kv.get(key)
        return json.loads(raw) if raw is not None else None

    async def put(self, key: str, value: Any) -> None:
        self._kv[key] = json.dumps(value)

    async def close(self) -> None:
        return None
