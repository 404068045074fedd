"""Event ingest: buffer decoded batches, commit them in groups, then acknowledge.

Many small transactions are what make a database slow; one `insert_events` call per flush with
thousands of rows is what makes it fast. A flush happens when `max_rows` are buffered or the
oldest buffered row has waited `max_delay_s`. Acks go out only after the commit, so a
controller that dies mid-flush acknowledges nothing and the terminals send again — the store's
(device, seq) key drops the repeats.

Loop-bound; the sink (storage) and the ack publisher are injected, so tests can drive it
without a broker or a database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson

from kiosk.wire.messages import EventAck, EventBatch
from kiosk.wire.ranges import to_ranges

log = logging.getLogger(__name__)

Row = tuple[str, int, int, str, str, int]
Sink = Callable[[Sequence[Row]], Awaitable[int]]
AckPublisher = Callable[[str, EventAck], Awaitable[None]]


@dataclass
class IngestStats:
    batches: int = 0
    events: int = 0
    committed_new: int = 0
    flushes: int = 0
    flush_errors: int = 0

    @property
    def duplicates(self) -> int:
        return self.events - self.committed_new


class EventIngest:
    def __init__(
        self, sink: Sink, publish_ack: AckPublisher, *, max_rows: int = 5000,
        max_delay_s: float = 0.05, max_buffer_rows: int = 100_000,
    ) -> None:
        self._sink = sink
        self._publish_ack = publish_ack
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.max_buffer_rows = max_buffer_rows
        self.stats = IngestStats()
        self._rows: list[Row] = []
        self._seqs: dict[str, list[int]] = defaultdict(list)
        self._first_at: float | None = None
        self._have_rows = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._ack_tasks: set[asyncio.Task[None]] = set()

    @property
    def buffered(self) -> int:
        return len(self._rows)

    async def submit(self, batch: EventBatch, received_ms: int) -> None:
        """Buffer one validated batch; waits while the buffer is full (backpressure)."""
        while len(self._rows) >= self.max_buffer_rows:
            self._room.clear()
            await self._room.wait()
        device = batch.device_id
        dumps = orjson.dumps
        self._rows.extend(
            (device, e.seq, e.ts_ms, e.type, dumps(e.data).decode(), received_ms)
            for e in batch.events
        )
        self._seqs[device].extend(e.seq for e in batch.events)
        self.stats.batches += 1
        self.stats.events += len(batch.events)
        if self._first_at is None:
            self._first_at = time.monotonic()
        self._have_rows.set()

    async def run(self) -> None:
        """Flush forever; cancel to stop (call `flush()` afterwards to drain)."""
        while True:
            await self._have_rows.wait()
            assert self._first_at is not None
            wait = self._first_at + self.max_delay_s - time.monotonic()
            if len(self._rows) < self.max_rows and wait > 0:
                await asyncio.sleep(min(wait, self.max_delay_s))
                continue
            try:
                await self.flush()
            except Exception:  # the database may be briefly unavailable: keep rows, retry
                self.stats.flush_errors += 1
                log.exception("event flush failed; %d rows kept for retry", len(self._rows))
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        if not self._rows:
            return
        rows, seqs, first_at = self._rows, self._seqs, self._first_at
        self._rows, self._seqs, self._first_at = [], defaultdict(list), None
        self._have_rows.clear()
        rows.sort()  # key order: the store's B-tree takes it ~20% faster (measured)
        try:
            new = await self._sink(rows)
        except BaseException:
            # Put the rows back in front of anything that arrived meanwhile: retried later.
            self._rows = rows + self._rows
            for device, more in self._seqs.items():
                seqs[device].extend(more)
            self._seqs = seqs
            self._first_at = first_at
            self._have_rows.set()
            raise
        if len(self._rows) < self.max_buffer_rows:
            self._room.set()
        self.stats.flushes += 1
        self.stats.committed_new += new
        for device, device_seqs in seqs.items():
            self._spawn_ack(device, EventAck(ranges=to_ranges(device_seqs)))

    def _spawn_ack(self, device: str, ack: EventAck) -> None:
        task = asyncio.get_running_loop().create_task(self._send_ack(device, ack))
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)

    async def _send_ack(self, device: str, ack: EventAck) -> None:
        try:
            await self._publish_ack(device, ack)
        except Exception as exc:  # the terminal resends and gets acked next time
            log.info("ack to %s not sent: %s", device, exc)

    async def drain_acks(self) -> None:
        if self._ack_tasks:
            await asyncio.gather(*self._ack_tasks, return_exceptions=True)
