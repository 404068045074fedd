"""Terminal agent ↔ real Mosquitto ↔ controller, in one process."""

from __future__ import annotations

from pathlib import Path

import aiomqtt
import pytest
from conftest import agent_for, provision, wait_until

from broker import storage
from broker.controller import Controller
from kiosk.wire import codec
from kiosk.wire.messages import DesiredConfig, Event, EventBatch
from kiosk.wire.topics import Channel, device_topic


async def stored(c: Controller, device_id: str) -> list[int]:
    assert c.db is not None
    return await storage.device_seqs(c.db, device_id)


async def test_events_arrive_once_and_leave_the_outbox(controller: Controller, run_agent,
                                                       tmp_path: Path) -> None:
    creds = await provision(controller, "sh-01-t1")
    agent = await run_agent(agent_for(creds, tmp_path))
    await agent.record_many([("ad.impression", {"i": i}) for i in range(250)])
    await wait_until(lambda: agent.store.count(), timeout=1)  # something pending first
    await wait_until(lambda: _empty(agent), timeout=10, what="outbox drained")
    assert await stored(controller, "sh-01-t1") == list(range(1, 251))
    assert agent.stats.events_acked == 250
    # three batches, the first two marked `more`: one ack for the whole backlog
    assert agent.stats.batches_sent == 3
    assert controller.ingest is not None and controller.ingest.stats.acks == 1


async def test_more_is_set_only_when_the_next_batch_follows_at_once(
        controller: Controller, run_agent, tmp_path: Path, monkeypatch) -> None:
    """With room for two batches in flight, a backlog goes out two batches per ack: the first
    says `more`, the second fills the window and does not (its ack must not wait)."""
    assert controller.ingest is not None
    seen: list[tuple[int, int, bool]] = []
    submit = controller.ingest.submit

    async def spy(batch, received_ms: int) -> None:
        seen.append((batch.seqs[0], batch.seqs[-1], batch.more))
        await submit(batch, received_ms)

    monkeypatch.setattr(controller.ingest, "submit", spy)
    creds = await provision(controller, "sh-01-t9")
    agent = await run_agent(agent_for(creds, tmp_path, max_inflight_batches=2))
    await agent.record_many([("ad.impression", {"i": i}) for i in range(350)])
    await wait_until(lambda: _empty(agent), timeout=10, what="outbox drained")
    assert seen == [(1, 100, True), (101, 200, False), (201, 300, True), (301, 350, False)]
    assert await stored(controller, "sh-01-t9") == list(range(1, 351))


async def _empty(agent) -> bool:
    return await agent.store.count() == 0


async def test_presence_health_and_state_reach_the_registry(controller: Controller, run_agent,
                                                            tmp_path: Path) -> None:
    creds = await provision(controller, "sh-01-t2")
    agent = await run_agent(agent_for(creds, tmp_path))
    db = controller.db
    assert db is not None

    async def registered() -> bool:
        d = await storage.get_device(db, "sh-01-t2")
        return bool(d and d.online and d.health and d.last_seen_ms)

    await wait_until(registered, what="online with health")
    dev = await storage.get_device(db, "sh-01-t2")
    assert dev is not None and dev.health is not None
    assert dev.health["app_version"] and dev.health["uptime_s"] >= 0
    assert dev.health["disk_free_mb"] > 0

    agent.stop()

    async def offline() -> bool:
        d = await storage.get_device(db, "sh-01-t2")
        return bool(d and not d.online)

    await wait_until(offline, what="offline after a clean shutdown")


async def test_commands_ack_result_reject_and_timeout(controller: Controller, run_agent,
                                                      tmp_path: Path) -> None:
    assert controller.commands is not None
    creds = await provision(controller, "sh-01-t3")
    await run_agent(agent_for(creds, tmp_path))
    rec = await controller.commands.send("sh-01-t3", "ping", {}, ttl_s=10)
    done = await controller.commands.wait_final(rec.cmd_id, 5)
    assert done is not None and done.status == "done" and "pong" in (done.result or {})

    rec = await controller.commands.send("sh-01-t3", "format-disk", {}, ttl_s=10)
    rejected = await controller.commands.wait_final(rec.cmd_id, 5)
    assert rejected is not None and rejected.status == "rejected"
    assert "unknown command" in (rejected.error or "")

    await provision(controller, "sh-01-t4")  # registered, never connects
    rec = await controller.commands.send("sh-01-t4", "ping", {}, ttl_s=0.3)
    timed_out = await controller.commands.wait_final(rec.cmd_id, 5)
    assert timed_out is not None and timed_out.status == "timed_out"


async def test_command_queued_for_an_offline_terminal_arrives_after_reconnect(
        controller: Controller, run_agent, tmp_path: Path) -> None:
    assert controller.commands is not None
    creds = await provision(controller, "sh-01-t5")
    agent = await run_agent(agent_for(creds, tmp_path))
    agent.stop()
    await wait_until(lambda: not agent.connected.is_set())
    rec = await controller.commands.send("sh-01-t5", "ping", {}, ttl_s=30)
    await run_agent(agent_for(creds, tmp_path, store=agent.store))
    done = await controller.commands.wait_final(rec.cmd_id, 10)
    assert done is not None and done.status == "done"


async def test_request_response(controller: Controller, run_agent, tmp_path: Path) -> None:
    creds = await provision(controller, "sh-01-t6")
    agent = await run_agent(agent_for(creds, tmp_path))
    ok = await agent.request("ping", timeout=5)
    assert ok.ok and ok.result and ok.result["device_id"] == "sh-01-t6"
    bad = await agent.request("transfer-money", timeout=5)
    assert not bad.ok and bad.error and bad.error.code == "unknown_method"


async def test_desired_config_applied_and_reported(controller: Controller, run_agent,
                                                   tmp_path: Path) -> None:
    creds = await provision(controller, "sh-01-t7")
    agent = await run_agent(agent_for(creds, tmp_path))
    assert controller.link is not None
    await controller.link.publish("sh-01-t7", Channel.CONFIG,
                                  DesiredConfig(version=3, settings={"volume": 40}), retain=True)
    await wait_until(lambda: agent.config_version == 3, what="config applied")
    db = controller.db
    assert db is not None

    async def reported() -> bool:
        d = await storage.get_device(db, "sh-01-t7")
        return bool(d and d.config_version == 3)

    await wait_until(reported, what="reported config version")
    # an older retained version never rolls the terminal back
    await controller.link.publish("sh-01-t7", Channel.CONFIG,
                                  DesiredConfig(version=2), retain=True)
    await agent.request("ping")
    assert agent.config_version == 3


@pytest.mark.parametrize("payload", [
    b"\x00\x01garbage", b"{}", b'{"v":9,"device_id":"sh-01-t8","events":[]}',
    codec.encode(EventBatch(device_id="sh-01-zz", events=[Event(seq=1, ts_ms=1, type="x")])),
])
async def test_bad_payloads_are_counted_and_do_not_stall_ingest(
        controller: Controller, run_agent, tmp_path: Path, payload: bytes) -> None:
    assert controller.link is not None
    creds = await provision(controller, "sh-01-t8")
    agent = await run_agent(agent_for(creds, tmp_path))
    before = controller.link.rejects.total
    async with aiomqtt.Client("127.0.0.1", creds.port, username=creds.device_id,
                              password=creds.password, identifier="sh-01-t8-raw",
                              protocol=aiomqtt.ProtocolVersion.V5) as raw:
        for _ in range(3):
            await raw.publish(device_topic("sh-01-t8", Channel.EVENTS), payload, qos=1)
    await wait_until(lambda: controller.link.rejects.total >= before + 3, what="rejections")
    await agent.record("ad.touch", {"after": "garbage"})
    await wait_until(lambda: _empty(agent), what="valid events still flow")
    assert await stored(controller, "sh-01-t8") == [1]
