"""Nothing lost, nothing doubled: broker, controller and terminal killed mid-stream.

Each test keeps a ledger of every event the terminals recorded and checks the controller's
store against it afterwards: exactly the recorded (device, seq) pairs, each once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import add_store, agent_for, controller_settings, provision, wait_until

from broker import storage
from broker.controller import Controller
from broker.mosquitto import ManagedBroker
from kiosk import credentials
from kiosk.credentials import DeviceCredentials

pytestmark = pytest.mark.slow


async def assert_exactly_once(db: storage.Database, expected: dict[str, int]) -> None:
    for device_id, last_seq in expected.items():
        seqs = await storage.device_seqs(db, device_id)
        assert seqs == list(range(1, last_seq + 1)), f"{device_id}: {len(seqs)} of {last_seq}"
    assert await storage.count_events(db) == sum(expected.values())


async def test_broker_killed_and_restarted_mid_stream(controller: Controller, broker, run_agent,
                                                      tmp_path: Path) -> None:
    agents = [await run_agent(agent_for(await provision(controller, f"sh-01-r{i}"), tmp_path))
              for i in range(4)]
    recorded = dict.fromkeys((a.cfg.device_id for a in agents), 0)

    async def produce(rounds: int) -> None:
        for _ in range(rounds):
            for a in agents:
                seqs = await a.record_many([("ad.impression", {"n": 1})] * 7)
                recorded[a.cfg.device_id] = seqs[-1]
            await asyncio.sleep(0.01)

    await produce(20)
    broker.kill()  # SIGKILL: no clean shutdown, in-flight messages gone
    await produce(20)  # terminals keep recording while the broker is down
    await asyncio.sleep(0.3)
    broker.start()
    await produce(20)
    for a in agents:
        await wait_until(lambda a=a: _drained(a), timeout=30, what=f"{a.cfg.device_id} drained")
    assert controller.db is not None
    await assert_exactly_once(controller.db, recorded)
    assert all(a.stats.connects >= 2 for a in agents)


async def _drained(agent) -> bool:
    return await agent.store.count() == 0


def _spawn_controller(tmp_path: Path, broker: ManagedBroker) -> subprocess.Popen[bytes]:
    settings = controller_settings(tmp_path, broker)
    config = tmp_path / "controller.toml"
    config.write_text(
        f'[controller]\ndata_dir = "{settings.controller.data_dir}"\n'
        f'ingest_max_delay_s = 0.01\n'
        f'[broker]\nmode = "external"\nport = {broker.endpoint.port}\n'
        f'controller_port = {broker.endpoint.controller}\n'
        f'controller_password = "{settings.broker.controller_password}"\n'
        f'[http]\nport = 0\nadmin_token = "x"\n')
    log = (tmp_path / "controller.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "-v", "run", "--config", str(config)],
        stdout=log, stderr=log)


async def test_controller_sigkilled_mid_ingest(tmp_path: Path, broker: ManagedBroker,
                                               run_agent) -> None:
    # Register devices through a short-lived in-process controller, then run the real one
    # as its own process so it can be SIGKILLed.
    setup = Controller(controller_settings(tmp_path, broker), broker=broker)
    await setup.start()
    assert setup.db is not None
    await add_store(setup.db)
    creds = [await provision(setup, f"sh-01-k{i}") for i in range(3)]
    await setup.stop()

    proc = _spawn_controller(tmp_path, broker)
    agents = [await run_agent(agent_for(c, tmp_path, resend_after_s=1.0)) for c in creds]
    recorded: dict[str, int] = {}
    try:
        for round_ in range(60):
            for a in agents:
                recorded[a.cfg.device_id] = (await a.record_many(
                    [("ad.touch", {"r": round_})] * 25))[-1]
            if round_ == 30:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = _spawn_controller(tmp_path, broker)
            await asyncio.sleep(0.02)
        for a in agents:
            await wait_until(lambda a=a: _drained(a), timeout=60, what="outboxes drained")
    finally:
        proc.terminate()
        proc.wait(10)
    db = await storage.Database.open(controller_settings(tmp_path, broker).db_url)
    try:
        await assert_exactly_once(db, recorded)
    finally:
        await db.close()


def _outbox_count(path: Path) -> int:
    with sqlite3.connect(path) as con:
        try:
            return int(con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except sqlite3.OperationalError:  # the agent has not created its tables yet
            return 0


def _outbox_max_seq(path: Path) -> int:
    with sqlite3.connect(path) as con:
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0


def _spawn_agent(creds_file: Path, data_dir: Path, rate: float) -> subprocess.Popen[bytes]:
    log = (data_dir / "agent.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "agent", "--credentials", str(creds_file),
         "--data-dir", str(data_dir), "--synthetic-events-per-s", str(rate),
         "--heartbeat-s", "1"], stdout=log, stderr=log)


async def test_terminal_sigkilled_with_unsent_events(tmp_path: Path, broker: ManagedBroker) -> None:
    c = Controller(controller_settings(tmp_path, broker), broker=broker)
    await c.start()
    assert c.db is not None
    await add_store(c.db)
    creds: DeviceCredentials = await provision(c, "sh-01-p1")
    await c.stop()  # the controller is away: nothing gets acknowledged

    data_dir = tmp_path / "terminal"
    data_dir.mkdir()
    creds_file = data_dir / "credentials.json"
    credentials.save(creds_file, [creds])
    outbox = data_dir / "agent.sqlite"
    proc = _spawn_agent(creds_file, data_dir, rate=100)
    try:
        await wait_until(lambda: outbox.exists() and _outbox_count(outbox) >= 150, timeout=30,
                         what="events piling up in the outbox")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    held = _outbox_count(outbox)
    last_seq = _outbox_max_seq(outbox)
    assert held == last_seq  # nothing acked, nothing lost at the kill

    c = Controller(controller_settings(tmp_path, broker), broker=broker)
    await c.start()
    proc = _spawn_agent(creds_file, data_dir, rate=0)  # restarted terminal, no new traffic
    try:
        await wait_until(lambda: _outbox_count(outbox) == 0, timeout=30, what="outbox drained")
    finally:
        proc.terminate()
        proc.wait(10)
    assert c.db is not None
    await assert_exactly_once(c.db, {"sh-01-p1": last_seq})
    log = json.dumps((data_dir / "agent.log").read_text()[-2000:])
    assert "Traceback" not in log
    await c.stop()
