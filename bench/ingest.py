"""Ingest throughput: N simulated terminals → Mosquitto → controller → SQLite.

Measures in one run:
  raw     the same batches published by the same terminals and received by a plain
          subscriber that only counts them (the broker path, no controller work);
  events  the controller path: validate, deduplicate, commit to SQLite, acknowledge —
          timed until every event is committed *and* every terminal's outbox is empty.

Last line: {"events_per_s", "raw_events_per_s", "ratio", "lost", "duplicated", ...}
Usage: python bench/ingest.py [--terminals 1000] [--events 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path

import aiomqtt
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from broker import storage
from broker.controller import Controller
from broker.mosquitto import BrokerConfig, ManagedBroker, free_port, generate_password
from broker.settings import Settings
from kiosk.agent.agent import AgentConfig
from kiosk.credentials import DeviceCredentials
from kiosk.fleet import Fleet
from kiosk.wire.topics import Channel, wildcard

console = Console(stderr=True)
CONTROLLER_PASSWORD = "bench-controller"


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


async def start_fleet(creds: list[DeviceCredentials], label: str) -> Fleet:
    fleet = Fleet(creds, agent_config=AgentConfig(
        device_id="x", password="x", heartbeat_s=3600, resend_after_s=60.0,
        max_inflight_batches=10))
    with progress() as p:
        t = p.add_task(f"{label}: connecting terminals", total=len(creds))
        await fleet.start(lambda n: p.advance(t, n))
    return fleet


async def raw_path(broker: ManagedBroker, creds: list[DeviceCredentials], per: int) -> float:
    total = per * len(creds)
    got = 0
    done = asyncio.Event()
    async with aiomqtt.Client("127.0.0.1", broker.endpoint.port, username="controller",
                              password=CONTROLLER_PASSWORD, identifier="bench-raw",
                              protocol=aiomqtt.ProtocolVersion.V5,
                              max_inflight_messages=1000) as sub:
        await sub.subscribe(wildcard(Channel.EVENTS), qos=1)

        async def count() -> None:
            nonlocal got
            async for m in sub.messages:
                got += bytes(m.payload).count(b'"seq":')  # type: ignore[arg-type]
                if got >= total:
                    done.set()
                    return

        counter = asyncio.create_task(count())
        fleet = await start_fleet(creds, "raw")
        t0 = time.perf_counter()
        await fleet.emit(per)
        with progress() as p:
            t = p.add_task("raw: events received", total=total)
            while not done.is_set():
                p.update(t, completed=got)
                await asyncio.sleep(0.05)
            p.update(t, completed=got)
        elapsed = time.perf_counter() - t0
        counter.cancel()
        await fleet.stop()
    return total / elapsed


async def controller_path(broker: ManagedBroker, creds: list[DeviceCredentials], per: int,
                          data_dir: Path) -> dict[str, float | int]:
    settings = Settings.model_validate({
        "controller": {"data_dir": data_dir, "ingest_max_rows": 5000},
        "broker": {"mode": "external", "port": broker.endpoint.port,
                   "controller_password": CONTROLLER_PASSWORD},
    })
    controller = Controller(settings, broker=broker)
    await controller.start()
    assert controller.db is not None and controller.ingest is not None
    fleet = await start_fleet(creds, "controller")
    total = per * len(creds)
    t0 = time.perf_counter()
    await fleet.emit(per)
    with progress() as p:
        t = p.add_task("controller: events committed + acked", total=total)
        while True:
            stored_new = controller.ingest.stats.committed_new
            p.update(t, completed=min(stored_new, total))
            if stored_new >= total and await fleet.pending() == 0:
                break
            await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - t0
    await fleet.stop()
    stored = await storage.count_events(controller.db)
    distinct = expected_present = 0
    for c in creds:
        seqs = await storage.device_seqs(controller.db, c.device_id)
        distinct += len(set(seqs))
        expected_present += len(set(seqs) & set(range(1, per + 1)))
    redelivered = controller.ingest.stats.duplicates
    await controller.stop()
    return {"events_per_s": total / elapsed, "seconds": elapsed, "stored": stored,
            "lost": total - expected_present, "duplicated": stored - distinct,
            "redelivered_and_dropped": redelivered}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--events", type=int, default=500, help="events per terminal")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        broker = ManagedBroker(BrokerConfig(port=free_port(), data_dir=Path(tmp) / "mosquitto",
                                            max_queued_messages=100_000))
        creds = [DeviceCredentials(f"bench-{i:05d}", generate_password(), "127.0.0.1",
                                   broker.endpoint.port) for i in range(args.terminals)]
        broker.set_users({c.device_id: c.password for c in creds}
                         | {"controller": CONTROLLER_PASSWORD})
        broker.start()
        try:
            raw = await raw_path(broker, creds, args.events)
            ctl = await controller_path(broker, creds, args.events, Path(tmp) / "controller")
        finally:
            broker.stop()
    result = {
        "terminals": args.terminals, "events": args.terminals * args.events,
        "events_per_s": round(ctl["events_per_s"]), "raw_events_per_s": round(raw),
        "ratio": round(ctl["events_per_s"] / raw, 3), "lost": ctl["lost"],
        "duplicated": ctl["duplicated"], "redelivered_and_dropped": ctl["redelivered_and_dropped"],
    }
    console.print(f"controller path {ctl['seconds']:.2f}s for {result['events']} events")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
