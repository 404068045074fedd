"""N simulated terminals, each a real `KioskAgent` with its own credentials.

They keep their outbox in memory (thousands of SQLite files would measure the disk, not the
link); everything else — batching, acks, resends, reconnects, commands — is the agent's own code.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kiosk.agent.agent import AgentConfig, KioskAgent
from kiosk.agent.store import MemoryAgentStore
from kiosk.aio import cancel_and_wait
from kiosk.credentials import DeviceCredentials

EVENT_TYPES = ("ad.impression", "ad.play_end", "ad.touch", "coupon.claim", "screen.touch")


def synthetic_events(n: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for _ in range(n):
        kind = rng.choice(EVENT_TYPES)
        out.append((kind, {"campaign": f"cmp-{rng.randrange(40)}",
                           "creative": f"cr-{rng.randrange(200)}",
                           "ms": rng.randrange(1000, 30_000)}))
    return out


class Fleet:
    def __init__(
        self, creds: list[DeviceCredentials], *, data_dir: Path = Path("var/fleet"),
        agent_config: AgentConfig | None = None, connect_concurrency: int = 50,
    ) -> None:
        base = agent_config or AgentConfig(device_id="template", password="x")
        self.agents = [
            KioskAgent(replace(base, device_id=c.device_id, password=c.password, host=c.host,
                               port=c.port, data_dir=data_dir), MemoryAgentStore())
            for c in creds
        ]
        self._sem = asyncio.Semaphore(connect_concurrency)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, on_connected: Callable[[int], None] | None = None,
                    timeout: float = 60.0) -> None:
        """Start every agent, a few at a time so the broker is not hit by one SYN flood."""

        async def one(agent: KioskAgent) -> None:
            async with self._sem:
                self._tasks.append(asyncio.create_task(agent.run()))
                await asyncio.wait_for(agent.connected.wait(), timeout)
            if on_connected:
                on_connected(1)

        await asyncio.gather(*(one(a) for a in self.agents))

    def pause_sending(self) -> None:
        for a in self.agents:
            a.pause_sending()

    def resume_sending(self) -> None:
        for a in self.agents:
            a.resume_sending()

    @property
    def connected(self) -> int:
        return sum(a.connected.is_set() for a in self.agents)

    async def emit(self, per_device: int, seed: int = 1) -> int:
        rng = random.Random(seed)
        for agent in self.agents:
            await agent.record_many(synthetic_events(per_device, rng))
        return per_device * len(self.agents)

    async def pending(self) -> int:
        return sum([await a.store.count() for a in self.agents])

    async def wait_drained(self, timeout: float,
                           on_progress: Callable[[int], None] | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            left = await self.pending()
            if on_progress:
                on_progress(left)
            if left == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        for a in self.agents:
            a.stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=10)
            await cancel_and_wait(late)
