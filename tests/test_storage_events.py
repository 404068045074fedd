"""Event ingest: (device, seq) duplicates are stored once, batches are atomic."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3

import asyncpg  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_fixtures import db as db  # the fixture

from broker.storage import (
    Database,
    EventRow,
    count_events,
    device_seqs,
    events_per_type,
    insert_events,
    list_events,
)


def rows(device_id: str, seqs: range | list[int], type_: str = "ad.impression") -> list[EventRow]:
    return [
        (device_id, s, 1_700_000_000_000 + s, type_, json.dumps({"ad": f"cmp-{s % 7}"}), 99)
        for s in seqs
    ]


async def test_new_rows_are_counted_and_duplicates_skipped(db: Database) -> None:
    assert await insert_events(db, rows("term-0001", range(1, 101))) == 100
    # a redelivered batch overlapping the first one: only the 50 new seqs count
    assert await insert_events(db, rows("term-0001", range(51, 151))) == 50
    assert await insert_events(db, rows("term-0001", range(1, 151))) == 0
    assert await count_events(db) == 150
    assert await device_seqs(db, "term-0001") == list(range(1, 151))


async def test_duplicates_inside_one_batch_are_stored_once(db: Database) -> None:
    batch = rows("term-0001", [3, 1, 2, 1, 3, 3])
    assert await insert_events(db, batch) == 3
    assert await device_seqs(db, "term-0001") == [1, 2, 3]


async def test_same_seq_on_different_devices_are_different_events(db: Database) -> None:
    assert await insert_events(db, rows("term-0001", [1, 2]) + rows("term-0002", [1, 2])) == 4
    assert await count_events(db, "term-0001") == 2 and await count_events(db, "term-0002") == 2


async def test_first_stored_copy_wins(db: Database) -> None:
    await insert_events(db, [("term-0001", 7, 10, "touch", '{"x":1}', 11)])
    await insert_events(db, [("term-0001", 7, 20, "tap", '{"x":2}', 21)])
    assert await list_events(db, "term-0001") == [("term-0001", 7, 10, "touch", '{"x":1}', 11)]


async def test_empty_batch_is_a_no_op(db: Database) -> None:
    assert await insert_events(db, []) == 0
    assert await count_events(db) == 0


async def test_failed_batch_stores_nothing(db: Database) -> None:
    good = rows("term-0001", range(1, 6))
    bad: list[EventRow] = [*good, (None, 6, 1, "x", "{}", 1)]  # type: ignore[list-item]
    with pytest.raises((sqlite3.IntegrityError, asyncpg.PostgresError)):
        await insert_events(db, bad)
    assert await count_events(db) == 0
    assert await insert_events(db, good) == 5  # the connection is still usable


async def test_large_batches_round_trip_exactly(db: Database) -> None:
    batch = rows("term-0001", range(1, 10_001))
    assert await insert_events(db, batch) == 10_000
    assert await list_events(db, "term-0001", after_seq=9_998) == batch[-2:]
    assert len(await list_events(db, "term-0001", limit=5)) == 5


async def test_seqs_up_to_the_wire_maximum_are_kept(db: Database) -> None:
    big = 2**62
    assert await insert_events(db, rows("term-0001", [big, big - 1, 1])) == 3
    assert await device_seqs(db, "term-0001") == [1, big - 1, big]


async def test_concurrent_overlapping_batches_store_each_event_once(db: Database) -> None:
    batches = [
        rows(f"term-{d:04d}", range(start, start + 500))
        for d in range(3)
        for start in (1, 251, 401)
    ]
    counts = await asyncio.gather(*(insert_events(db, b) for b in batches))
    assert sum(counts) == 3 * 900
    for d in range(3):
        assert await device_seqs(db, f"term-{d:04d}") == list(range(1, 901))


async def test_events_per_type_in_a_time_window(db: Database) -> None:
    await insert_events(db, rows("term-0001", range(1, 11), "ad.impression"))
    await insert_events(db, rows("term-0001", range(11, 14), "coupon.claim"))
    assert await events_per_type(db) == {"ad.impression": 10, "coupon.claim": 3}
    t0 = 1_700_000_000_000
    window = await events_per_type(db, since_ms=t0 + 5, until_ms=t0 + 12)
    assert window == {"ad.impression": 6, "coupon.claim": 1}


# ---- property: any interleaving of duplicated and reordered deliveries --------------------

_examples = itertools.count()
_event_types = st.sampled_from(["ad.impression", "ad.touch", "coupon.claim", "pay.success"])
_payloads = st.dictionaries(
    st.text(max_size=6), st.integers() | st.text(max_size=6) | st.none(), max_size=3
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[tuple[int, int, int, str, str]], list[list[int]]]:
    """Distinct events (device, seq, ts, type, data) and batches of indexes into them.

    Every event is delivered at least once; copies and order are arbitrary, as when a terminal
    resends unacknowledged events after reconnecting and the broker redelivers QoS 1 messages.
    """
    events = []
    for device in range(draw(st.integers(1, 3))):
        for seq in draw(st.sets(st.integers(1, 2**62), min_size=1, max_size=15)):
            ts = draw(st.integers(0, 2**45))
            events.append((device, seq, ts, draw(_event_types), json.dumps(draw(_payloads))))
    indexes = list(range(len(events)))
    stream = draw(st.permutations(indexes + draw(st.lists(st.sampled_from(indexes), max_size=30))))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    batches = [stream[a:b] for a, b in itertools.pairwise([0, *cuts, len(stream)])]
    return events, batches


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
async def test_any_redelivery_order_stores_exactly_the_distinct_events(
    db: Database, case: tuple[list[tuple[int, int, int, str, str]], list[list[int]]]
) -> None:
    events, batches = case
    prefix = f"hyp{next(_examples):06d}"  # each example writes its own devices
    device_ids = [f"{prefix}-{d}" for d in range(3)]

    def row(i: int) -> EventRow:
        device, seq, ts, type_, data = events[i]
        return (device_ids[device], seq, ts, type_, data, 1)

    seen: set[int] = set()
    for batch in batches:
        fresh = {i for i in batch if i not in seen}
        assert await insert_events(db, [row(i) for i in batch]) == len(fresh)
        seen |= fresh
    assert seen == set(range(len(events)))
    for d, device_id in enumerate(device_ids):
        expected = sorted(row(i) for i, e in enumerate(events) if e[0] == d)
        expected.sort(key=lambda r: r[1])
        assert await list_events(db, device_id) == expected


async def test_decoded_batches_are_stored_with_data_as_sent_and_deduplicated(
        db: Database) -> None:
    from broker.storage import insert_event_batches, list_events
    from kiosk.wire.batch_decoder import decode_event_batch

    def events(device: str, seqs: range) -> bytes:
        # spaces and an escaped quote: the stored `data` is the terminal's text, untouched
        return decode_event_batch(json.dumps({"device_id": device, "events": [
            {"seq": s, "ts_ms": 1_000 + s, "type": "ad.touch",
             "data": {"x": s, "name": 'ümlaut "q"'}} for s in seqs]}, ensure_ascii=False)
        ).rows

    first = [("term-0001", events("term-0001", range(1, 6)), 77),
             ("term-0002", events("term-0002", range(1, 3)), 78)]
    assert await insert_event_batches(db, first) == 7
    again = [("term-0001", events("term-0001", range(4, 9)), 79)]  # 4 and 5 stored already
    assert await insert_event_batches(db, again) == 3
    assert await insert_event_batches(db, []) == 0
    stored = await list_events(db, "term-0001")
    assert [r[1] for r in stored] == list(range(1, 9))
    seq4 = stored[3]
    assert seq4[2:] == (1_004, "ad.touch", '{"x": 4, "name": "ümlaut \\"q\\""}', 77)  # first wins
    assert json.loads(seq4[4]) == {"x": 4, "name": 'ümlaut "q"'}
    no_data = decode_event_batch(b'{"device_id": "term-0003", "events": '
                                 b'[{"seq": 1, "ts_ms": 5, "type": "t"}]}')
    await insert_event_batches(db, [("term-0003", no_data.rows, 1)])
    assert (await list_events(db, "term-0003"))[0][4] == "{}"


# ---- property: the flush statement stores exactly what the decoder validated ---------------

_json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
                 | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
_data_objects = st.dictionaries(st.text(max_size=6), st.recursive(
    _json_scalars, lambda kids: st.lists(kids, max_size=3)
    | st.dictionaries(st.text(max_size=4), kids, max_size=3), max_leaves=8), max_size=4)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.tuples(
    st.lists(st.tuples(st.integers(1, 40), st.integers(0, 32_503_680_000_000), _event_types,
                       _data_objects),
             min_size=1, max_size=6, unique_by=lambda e: e[0]),
    st.sampled_from([{}, {"ensure_ascii": False}, {"indent": 1}, {"separators": (",", ":")}]),
    st.integers(0, 2**45)), min_size=1, max_size=4))
async def test_flushed_batches_store_exactly_the_validated_rows(
        db: Database, batches: list) -> None:
    """Unicode, escapes, big numbers and the sender's own spacing come out of SQLite's JSON
    expansion byte for byte as the decoder passed them, and repeats count as not new."""
    from broker.storage import insert_event_batches, list_events
    from kiosk.wire.batch_decoder import decode_event_batch, rows_of

    device = f"flush{next(_examples):06d}"
    expected: dict[int, EventRow] = {}
    flush = []
    for events, style, received_ms in batches:
        payload = json.dumps({"device_id": device, "events": [
            {"seq": seq, "ts_ms": ts, "type": kind, "data": data}
            for seq, ts, kind, data in events]}, **style)
        rows = decode_event_batch(payload).rows
        flush.append((device, rows, received_ms))
        for seq, ts, kind, data in rows_of(rows):
            assert json.loads(data) == next(e[3] for e in events if e[0] == seq)
            expected.setdefault(seq, (device, seq, ts, kind, data, received_ms))
    assert await insert_event_batches(db, flush) == len(expected)
    assert await list_events(db, device) == [expected[s] for s in sorted(expected)]
    assert await insert_event_batches(db, flush) == 0
