"""EventIngest without broker or database: an in-memory sink keyed like the real table."""

import asyncio
from collections.abc import Sequence

import orjson
import pytest

from broker.ingest import EventIngest
from broker.storage import BatchRow
from kiosk.wire import codec
from kiosk.wire.batch_decoder import DecodedBatch, decode_event_batch, rows_of
from kiosk.wire.messages import Event, EventAck, EventBatch


class MemorySink:
    """Keyed like the real table: one row per (device, seq), the first stored wins."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], dict] = {}
        self.fail_next = 0
        self.commits = 0

    async def __call__(self, batches: Sequence[BatchRow]) -> int:
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("database went away")
        new = 0
        for device, rows, _received in batches:
            for seq, ts_ms, kind, data in rows_of(rows):
                if (device, seq) not in self.rows:
                    self.rows[(device, seq)] = {"seq": seq, "ts_ms": ts_ms, "type": kind,
                                                "data": orjson.loads(data)}
                    new += 1
        self.commits += 1
        return new


def batch(device: str, first: int, n: int, *, more: bool = False) -> DecodedBatch:
    b = EventBatch(device_id=device, events=[
        Event(seq=s, ts_ms=1000 + s, type="touch", data={"x": s}) for s in range(first, first + n)
    ], more=more)
    return decode_event_batch(codec.encode(b))


@pytest.fixture
def acks() -> list[tuple[str, EventAck]]:
    return []


async def test_acks_only_after_commit_and_cover_duplicates(acks: list) -> None:
    sink = MemorySink()

    async def publish(device: str, ack: EventAck) -> None:
        # by the time an ack goes out, its rows must be in the store
        for lo, hi in ack.ranges:
            for s in range(lo, hi + 1):
                assert (device, s) in sink.rows
        acks.append((device, ack))

    ingest = EventIngest(sink, publish, max_rows=10_000, max_delay_s=0.01)
    await ingest.submit(batch("dev-a", 1, 50), 0)
    await ingest.submit(batch("dev-b", 1, 10), 0)
    await ingest.submit(batch("dev-a", 41, 20), 0)  # 41..50 repeat
    await ingest.flush()
    await ingest.drain_acks()
    assert len(sink.rows) == 70
    assert ingest.stats.duplicates == 10
    assert dict(acks) == {"dev-a": EventAck(ranges=[(1, 60)]), "dev-b": EventAck(ranges=[(1, 10)])}


async def test_failed_commit_keeps_rows_and_sends_no_ack(acks: list) -> None:
    sink = MemorySink()
    sink.fail_next = 1

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))

    ingest = EventIngest(sink, publish)
    await ingest.submit(batch("dev-a", 1, 5), 0)
    with pytest.raises(ConnectionError):
        await ingest.flush()
    await ingest.drain_acks()
    assert acks == [] and ingest.buffered == 5
    await ingest.submit(batch("dev-a", 6, 5), 0)
    await ingest.flush()
    await ingest.drain_acks()
    assert sorted(s for _, s in sink.rows) == list(range(1, 11))
    assert acks == [("dev-a", EventAck(ranges=[(1, 10)]))]


async def test_run_flushes_on_delay_and_size(acks: list) -> None:
    sink = MemorySink()

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))

    ingest = EventIngest(sink, publish, max_rows=100, max_delay_s=0.02)
    task = asyncio.create_task(ingest.run())
    try:
        await ingest.submit(batch("dev-a", 1, 3), 0)  # small: waits for the delay
        for _ in range(100):
            if sink.rows:
                break
            await asyncio.sleep(0.01)
        assert len(sink.rows) == 3
        for i in range(5):  # big: flushed by size
            await ingest.submit(batch("dev-b", 1 + i * 100, 100), 0)
        for _ in range(200):
            if len(sink.rows) == 503:
                break
            await asyncio.sleep(0.01)
        assert len(sink.rows) == 503
    finally:
        task.cancel()


async def test_backpressure_blocks_submitters_until_flush(acks: list) -> None:
    sink = MemorySink()

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))

    ingest = EventIngest(sink, publish, max_buffer_rows=10)
    await ingest.submit(batch("dev-a", 1, 10), 0)
    blocked = asyncio.create_task(ingest.submit(batch("dev-a", 11, 5), 0))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    await ingest.flush()
    await asyncio.wait_for(blocked, 1)
    assert ingest.buffered == 5


async def test_receiving_goes_on_while_a_full_buffer_commits(acks: list) -> None:
    """A submitter held back by a full buffer is let in as soon as that buffer starts to
    commit, not after the commit: ingest keeps reading the broker while the database writes."""
    release = asyncio.Event()

    class Slow(MemorySink):
        async def __call__(self, batches: Sequence[BatchRow]) -> int:
            await release.wait()
            return await super().__call__(batches)

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))

    sink = Slow()
    ingest = EventIngest(sink, publish, max_buffer_rows=10)
    await ingest.submit(batch("dev-a", 1, 10), 0)
    blocked = asyncio.create_task(ingest.submit(batch("dev-a", 11, 5), 0))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    flushing = asyncio.create_task(ingest.flush())
    await asyncio.wait_for(blocked, 1)  # let in while the first ten are still being written
    assert not flushing.done() and not sink.rows
    assert ingest.buffered == 5
    release.set()
    await flushing
    assert len(sink.rows) == 10


async def test_a_failed_commit_keeps_the_buffer_full_for_submitters(acks: list) -> None:
    class Failing(MemorySink):
        async def __call__(self, batches: Sequence[BatchRow]) -> int:
            await asyncio.sleep(0.02)
            raise OSError("disk full")

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))

    ingest = EventIngest(Failing(), publish, max_buffer_rows=10)
    await ingest.submit(batch("dev-a", 1, 10), 0)
    with pytest.raises(OSError):
        await ingest.flush()
    assert ingest.buffered == 10  # nothing lost: kept for the retry
    blocked = asyncio.create_task(ingest.submit(batch("dev-a", 11, 5), 0))
    await asyncio.sleep(0.02)
    assert not blocked.done()  # still full: the receive loop is held back
    blocked.cancel()
    assert acks == []


async def test_an_ack_waits_one_flush_for_batches_already_buffered(acks: list) -> None:
    """While dev-a's first batch commits, its next batch arrives: one ack covers both, after
    the second commit; dev-b, with nothing more buffered, is acked at once."""
    sink = MemorySink()
    ingest: EventIngest

    async def publish(device: str, ack: EventAck) -> None:
        for lo, hi in ack.ranges:
            assert all((device, s) in sink.rows for s in range(lo, hi + 1))
        acks.append((device, ack))

    class Racing(MemorySink):
        async def __call__(self, batches: Sequence[BatchRow]) -> int:
            if sink.commits == 0:
                await ingest.submit(batch("dev-a", 11, 10), 0)
                await ingest.submit(batch("dev-a", 21, 10), 0)
            return await sink(batches)

    ingest = EventIngest(Racing(), publish)
    await ingest.submit(batch("dev-a", 1, 10), 0)
    await ingest.submit(batch("dev-b", 1, 5), 0)
    await ingest.flush()
    await ingest.drain_acks()
    assert acks == [("dev-b", EventAck(ranges=[(1, 5)]))]
    await ingest.flush()
    await ingest.drain_acks()
    assert acks[1:] == [("dev-a", EventAck(ranges=[(1, 30)]))]
    assert ingest.stats.acks == 2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_ack_is_held_at_most_ack_hold_s(acks: list) -> None:
    """A device whose next batch is always already waiting is still acked once its oldest
    held seq has waited `ack_hold_s`, and then the hold starts over."""
    sink = MemorySink()
    clock = Clock()
    ingest: EventIngest
    sent = [1]

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))

    class Busy(MemorySink):
        async def __call__(self, batches: Sequence[BatchRow]) -> int:
            clock.now += 0.4  # each commit takes 0.4 s
            if sent[0] <= 26:  # the next batch arrives during every commit
                sent[0] += 5
                await ingest.submit(batch("dev-a", sent[0], 5), 0)
            return await sink(batches)

    ingest = EventIngest(Busy(), publish, ack_hold_s=1.0, clock=clock)
    await ingest.submit(batch("dev-a", 1, 5), 0)
    for _ in range(8):
        await ingest.flush()
    await ingest.drain_acks()
    # commits at 100.4 .. 103.2; holds from 100.4 and 101.6 run out at 101.6 and 102.8
    assert [a.ranges for _, a in acks] == [[(1, 20)], [(21, 35)]]
    assert len(sink.rows) == 35


async def test_more_holds_the_ack_until_the_last_batch_of_a_run(acks: list) -> None:
    """Batches marked `more` are committed at once but acked together with the device's
    next batch without `more`: one ack for the run; other devices are acked per commit."""
    sink = MemorySink()
    clock = Clock()

    async def publish(device: str, ack: EventAck) -> None:
        for lo, hi in ack.ranges:
            assert all((device, s) in sink.rows for s in range(lo, hi + 1))
        acks.append((device, ack))

    ingest = EventIngest(sink, publish, ack_hold_s=2.0, clock=clock)
    for first in (1, 11, 21):
        await ingest.submit(batch("dev-a", first, 10, more=True), 0)
        await ingest.submit(batch("dev-b", first, 10), 0)
        await ingest.flush()
        clock.now += 0.3
    await ingest.drain_acks()
    assert [d for d, _ in acks] == ["dev-b"] * 3 and len(sink.rows) == 60
    await ingest.submit(batch("dev-a", 31, 5), 0)  # no `more`: the run is over
    await ingest.flush()
    await ingest.drain_acks()
    assert acks[3:] == [("dev-a", EventAck(ranges=[(1, 35)]))]
    assert ingest.stats.acks == 4


async def test_a_held_ack_goes_out_when_the_promised_batch_never_comes(acks: list) -> None:
    """A terminal said `more`, then went quiet (link lost, or its next batch went to another
    controller): its committed events are acked `ack_hold_s` later with nothing arriving."""
    sink = MemorySink()
    got = asyncio.Event()

    async def publish(device: str, ack: EventAck) -> None:
        acks.append((device, ack))
        got.set()

    ingest = EventIngest(sink, publish, max_delay_s=0.01, ack_hold_s=0.2)
    task = asyncio.create_task(ingest.run())
    try:
        await ingest.submit(batch("dev-a", 1, 10, more=True), 0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.wait_for(got.wait(), 5)
        assert loop.time() - t0 >= 0.2
        assert acks == [("dev-a", EventAck(ranges=[(1, 10)]))] and len(sink.rows) == 10
    finally:
        task.cancel()
