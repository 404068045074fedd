"""Shared fixtures: a real managed Mosquitto, an in-process controller, terminals."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker import storage
from broker.controller import Controller
from broker.mosquitto import BrokerConfig, ManagedBroker, free_port
from broker.settings import Settings
from kiosk.agent.agent import AgentConfig, KioskAgent
from kiosk.agent.store import AgentStore, MemoryAgentStore
from kiosk.credentials import DeviceCredentials

HAVE_MOSQUITTO = bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())
needs_mosquitto = pytest.mark.skipif(
    not HAVE_MOSQUITTO, reason="mosquitto not installed (./store.sh test installs it)")


def now_ms() -> int:
    return int(time.time() * 1000)


async def wait_until(cond: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0,
                     what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ManagedBroker]:
    if not HAVE_MOSQUITTO:
        pytest.skip("mosquitto not installed (./store.sh test installs it)")
    b = ManagedBroker(BrokerConfig(port=free_port(), data_dir=tmp_path / "mosquitto",
                                   max_queued_messages=100_000))
    b.start()
    yield b
    b.stop()


def controller_settings(tmp_path: Path, broker: ManagedBroker, **controller: Any) -> Settings:
    return Settings.model_validate({
        "controller": {"data_dir": tmp_path / "controller", "command_sweep_s": 0.1,
                       "ingest_max_delay_s": 0.01, **controller},
        "broker": {"mode": "external", "port": broker.endpoint.port,
                   "controller_port": broker.endpoint.controller,
                   "controller_password": "controller-secret"},
        "http": {"port": 0, "admin_token": "test-admin-token"},
    })


async def add_store(db: storage.Database, store_id: str = "sh-01") -> None:
    await storage.upsert_store(db, storage.StoreRecord(
        store_id=store_id, name="Shanghai One", city="Shanghai", district="Jing'an",
        format="hypermarket", footfall_tier=4, tags=("mall",), timezone="Asia/Shanghai",
        created_ms=now_ms()))


@pytest.fixture
async def controller(tmp_path: Path, broker: ManagedBroker) -> AsyncIterator[Controller]:
    c = Controller(controller_settings(tmp_path, broker), broker=broker)
    await c.start()
    assert c.db is not None
    await add_store(c.db)
    yield c
    await c.stop()


async def provision(c: Controller, device_id: str, store_id: str = "sh-01") -> DeviceCredentials:
    return await c.provision_device(storage.DeviceRecord(
        device_id=device_id, store_id=store_id, screen_size_in=10.1, orientation="landscape",
        resolution="1280x800", created_ms=now_ms()))


def agent_for(creds: DeviceCredentials, tmp_path: Path, store: AgentStore | None = None,
              **overrides: Any) -> KioskAgent:
    fast: dict[str, Any] = {"heartbeat_s": 0.2, "backoff_initial_s": 0.05,
                            "backoff_max_s": 0.5, "resend_after_s": 2.0}
    cfg = AgentConfig(device_id=creds.device_id, password=creds.password, host=creds.host,
                      port=creds.port, data_dir=tmp_path, **(fast | overrides))
    return KioskAgent(cfg, store or MemoryAgentStore())


@pytest.fixture
async def run_agent() -> AsyncIterator[Callable[[KioskAgent], Awaitable[KioskAgent]]]:
    tasks: list[tuple[KioskAgent, asyncio.Task[None]]] = []

    async def start(agent: KioskAgent) -> KioskAgent:
        tasks.append((agent, asyncio.create_task(agent.run())))
        await asyncio.wait_for(agent.connected.wait(), 10)
        return agent

    yield start
    for agent, task in tasks:
        agent.stop()
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            task.cancel()
