"""The terminal's outbox: seqs never reused, rows kept until acked, survives reopen."""

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.agent.store import MemoryAgentStore, SqliteAgentStore


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path):
    s = await SqliteAgentStore.open(tmp_path / "agent.sqlite") if request.param == "sqlite" \
        else MemoryAgentStore()
    yield s
    await s.close()


async def test_seqs_grow_and_are_never_reused_after_ack(store) -> None:
    seqs = await store.add_events([(1, "touch", {"i": i}) for i in range(5)])
    assert seqs == [1, 2, 3, 4, 5]
    assert await store.ack([(1, 5)]) == 5
    assert await store.count() == 0
    assert await store.add_events([(2, "touch", {})]) == [6]


async def test_pending_pages_after_a_seq_and_ack_removes_only_ranges(store) -> None:
    await store.add_events([(1, "ad.play", {"n": i}) for i in range(10)])
    page = await store.pending(3, 4)
    assert [e.seq for e in page] == [4, 5, 6, 7]
    assert page[0].data == {"n": 3}
    await store.ack([(1, 2), (5, 5)])
    assert [e.seq for e in await store.pending(0, 100)] == [3, 4, 6, 7, 8, 9, 10]


async def test_kv(store) -> None:
    assert await store.get("x") is None
    await store.put("x", {"a": [1, 2]})
    await store.put("x", {"a": [3]})
    assert await store.get("x") == {"a": [3]}


async def test_sqlite_outbox_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "agent.sqlite"
    s = await SqliteAgentStore.open(path)
    await s.add_events([(1, "touch", {}) for _ in range(3)])
    await s.ack([(1, 1)])
    await s.close()
    s = await SqliteAgentStore.open(path)
    assert [e.seq for e in await s.pending(0, 10)] == [2, 3]
    assert await s.add_events([(1, "touch", {})]) == [4]
    await s.close()


async def test_agent_refuses_events_the_controller_would_reject(tmp_path: Path) -> None:
    from kiosk.agent.agent import AgentConfig, KioskAgent

    store = MemoryAgentStore()
    agent = KioskAgent(AgentConfig(device_id="dev-001", password="x", data_dir=tmp_path), store)
    with pytest.raises(ValueError, match="invalid event"):
        await agent.record_many([("ad.play", {}), ("Bad Type!", {})])
    with pytest.raises(ValueError, match="bytes"):
        await agent.record("ad.play", {"blob": "x" * 5000})
    assert await store.count() == 0  # all or nothing
    assert await agent.record("ad.play", {"ok": True}) == 1


_ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(1, 30)),
    st.tuples(st.just("ack"), st.integers(0, 80), st.integers(0, 20)),
    st.tuples(st.just("pending"), st.integers(-1, 80), st.integers(1, 25))), max_size=25)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
async def test_memory_outbox_pages_exactly_like_the_sqlite_one(tmp_path: Path, ops) -> None:
    """The simulator's in-memory outbox answers `pending` as the terminal's SQLite one does."""
    path = tmp_path / f"agent-{uuid.uuid4().hex}.sqlite"
    sqlite, memory = await SqliteAgentStore.open(path), MemoryAgentStore()
    try:
        for op in ops:
            if op[0] == "add":
                rows = [(1, "touch", {"i": i}) for i in range(op[1])]
                assert await sqlite.add_events(rows) == await memory.add_events(rows)
            elif op[0] == "ack":
                ranges = [(op[1], op[1] + op[2])]
                assert await sqlite.ack(ranges) == await memory.ack(ranges)
            else:
                want = [e.seq for e in await sqlite.pending(op[1], op[2])]
                assert [e.seq for e in await memory.pending(op[1], op[2])] == want
            assert await memory.count() == await sqlite.count()
    finally:
        await sqlite.close()
