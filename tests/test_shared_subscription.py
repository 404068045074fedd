"""Two controller processes' worth of workers share one event stream (MQTT 5 $share)."""

from __future__ import annotations

from pathlib import Path

from conftest import agent_for, controller_settings, provision, wait_until

from broker import storage
from broker.controller import Controller


async def test_two_controllers_split_the_load_and_store_each_event_once(
        controller: Controller, broker, run_agent, tmp_path: Path) -> None:
    second = Controller(controller_settings(tmp_path, broker), broker=broker)
    await second.start()
    try:
        agents = [await run_agent(agent_for(await provision(controller, f"sh-01-s{i}"),
                                            tmp_path, batch_size=10)) for i in range(4)]
        for a in agents:
            await a.record_many([("ad.impression", {"i": i}) for i in range(200)])

        async def drained() -> bool:
            return all([await a.store.count() == 0 for a in agents])

        await wait_until(drained, timeout=20, what="every outbox acknowledged")
        assert controller.ingest is not None and second.ingest is not None
        first_share, second_share = controller.ingest.stats.events, second.ingest.stats.events
        assert first_share > 0 and second_share > 0, (first_share, second_share)
        assert first_share + second_share >= 800
        assert controller.db is not None
        assert await storage.count_events(controller.db) == 800
    finally:
        await second.stop()
