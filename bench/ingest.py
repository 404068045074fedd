"""Ingest throughput: N simulated terminals → Mosquitto → controller → SQLite.

Measures in one run:
  raw     the same batches published by the same terminals and received by a plain
          subscriber that only counts them (the broker path, no controller work);
  events  the controller path: validate, deduplicate, commit to SQLite, acknowledge —
          timed until every event is committed *and* every terminal's outbox is empty.

Both are measured --rounds times (default 5), in pairs: raw, then controller. The last line is
one JSON object: the medians ("events_per_s", "raw_events_per_s", "ratio": the median of the
rounds' ratios, with "ratio_min" and "ratio_max"), and "lost", "duplicated" summed over rounds.
Usage: python bench/ingest.py [--terminals 1000] [--events 500] [--rounds 5] [--ack-hold-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import aiomqtt
import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from broker import storage
from broker.controller import Controller
from broker.heap import freeze_startup_heap
from broker.mosquitto import BrokerConfig, ManagedBroker, free_port, generate_password
from broker.settings import Settings
from kiosk.credentials import DeviceCredentials
from kiosk.wire.topics import Channel, wildcard

console = Console(stderr=True)
CONTROLLER_PASSWORD = "bench-controller"


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


class CpuMeter:
    """CPU seconds each process used since creation of the meter (user + system)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        self.start = {name: self._cpu(p) for name, p in self.procs.items()}

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system

    def used(self) -> dict[str, float]:
        return {name: round(self._cpu(p) - self.start[name], 2) for name, p in self.procs.items()}


class ThreadMeter:
    """CPU seconds per thread of this process (the controller's event loop, its SQLite writer)."""

    def __init__(self) -> None:
        self.start = self._now()

    @staticmethod
    def _now() -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        return {names.get(t.id, str(t.id)): t.user_time + t.system_time
                for t in psutil.Process().threads()}

    def used(self) -> dict[str, float]:
        return {name: round(cpu - self.start.get(name, 0.0), 2)
                for name, cpu in self._now().items() if cpu - self.start.get(name, 0.0) >= 0.05}


class GcMeter:
    """Seconds this process spent in the cyclic garbage collector."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t0 = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0

    def stop(self) -> float:
        gc.callbacks.remove(self._on_gc)
        return round(self.seconds, 2)


class FleetProcess:
    """The simulated terminals run in their own process, as they would on their own boxes."""

    def __init__(self, creds_file: Path) -> None:
        self.creds_file = creds_file
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, label: str) -> None:
        with console.status(f"{label}: connecting terminals…"):
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).with_name("fleet_worker.py")),
                str(self.creds_file), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE)
            await self.expect("READY")

    async def send(self, line: str) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, word: str) -> str:
        assert self.proc and self.proc.stdout
        line = (await self.proc.stdout.readline()).decode().strip()
        if not line.startswith(word):
            raise RuntimeError(f"fleet worker said {line!r}, expected {word}")
        return line

    async def stop(self) -> None:
        if self.proc:
            await self.send("STOP")
            await self.proc.wait()


async def raw_path(broker: ManagedBroker, fleet: FleetProcess, total: int, per: int) -> float:
    got = 0
    done = asyncio.Event()
    async with aiomqtt.Client("127.0.0.1", broker.endpoint.controller, username="controller",
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
        await fleet.start("raw")
        await fleet.send(f"EMIT {per}")
        await fleet.expect("EMITTED")
        cpu = CpuMeter({"subscriber": os.getpid(), "mosquitto": broker.pid or 0,
                        "terminals": fleet.proc.pid if fleet.proc else 0})
        t0 = time.perf_counter()
        await fleet.send("GO")
        with progress() as p:
            t = p.add_task("raw: events received", total=total)
            while not done.is_set():
                p.update(t, completed=got)
                await asyncio.sleep(0.05)
            p.update(t, completed=got)
        elapsed = time.perf_counter() - t0
        console.print(f"raw: all received after {elapsed:.2f}s; CPU seconds: {cpu.used()}")
        counter.cancel()
        await fleet.stop()
    return total / elapsed


async def controller_path(broker: ManagedBroker, fleet: FleetProcess,
                          creds: list[DeviceCredentials], per: int,
                          data_dir: Path, flush_rows: int,
                          ack_hold_s: float) -> dict[str, float | int]:
    settings = Settings.model_validate({
        "controller": {"data_dir": data_dir, "ingest_max_rows": flush_rows,
                       "ingest_ack_hold_s": ack_hold_s},
        "broker": {"mode": "external", "port": broker.endpoint.port,
                   "controller_password": CONTROLLER_PASSWORD},
    })
    controller = Controller(settings, broker=broker)
    await controller.start()
    freeze_startup_heap()  # as `store-controller run` does once it is up
    assert controller.db is not None and controller.ingest is not None
    await fleet.start("controller")
    total = per * len(creds)
    await fleet.send(f"EMIT {per}")
    await fleet.expect("EMITTED")
    cpu = CpuMeter({"controller": os.getpid(), "mosquitto": broker.pid or 0,
                    "terminals": fleet.proc.pid if fleet.proc else 0})
    threads, gc_meter = ThreadMeter(), GcMeter()
    t0 = time.perf_counter()
    await fleet.send("GO")
    await fleet.send("DRAIN 600")
    with progress() as p:
        t = p.add_task("controller: events committed", total=total)
        while controller.ingest.stats.committed_new < total:
            p.update(t, completed=controller.ingest.stats.committed_new)
            await asyncio.sleep(0.02)
        p.update(t, completed=total)
    committed_s = time.perf_counter() - t0
    drained = await fleet.expect("DRAINED")
    elapsed = time.perf_counter() - t0
    console.print(f"all committed after {committed_s:.2f}s, all acknowledged after {elapsed:.2f}s"
                  f" ({controller.ingest.stats.flushes} commits, {controller.ingest.stats.acks}"
                  f" acks); CPU seconds: {cpu.used()}; controller threads: {threads.used()},"
                  f" of which in the garbage collector: {gc_meter.stop()}")
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
            "redelivered_and_dropped": redelivered, "drained": drained == "DRAINED 1"}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--events", type=int, default=500, help="events per terminal")
    ap.add_argument("--flush-rows", type=int, default=5000,
                    help="controller setting ingest_max_rows (events per commit)")
    ap.add_argument("--ack-hold-s", type=float, default=2.0,
                    help="controller setting ingest_ack_hold_s (how long an ack may be held)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="raw path then controller path, this many times; medians reported")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    raws: list[float] = []
    ctls: list[dict[str, float | int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        broker = ManagedBroker(BrokerConfig(port=free_port(), data_dir=Path(tmp) / "mosquitto",
                                            max_queued_messages=100_000))
        creds = [DeviceCredentials(f"bench-{i:05d}", generate_password(), "127.0.0.1",
                                   broker.endpoint.port) for i in range(args.terminals)]
        broker.set_users({c.device_id: c.password for c in creds}
                         | {"controller": CONTROLLER_PASSWORD})
        broker.start()
        creds_file = Path(tmp) / "fleet.json"
        creds_file.write_text(json.dumps([asdict(c) for c in creds]))
        fleet = FleetProcess(creds_file)
        total = args.terminals * args.events
        try:
            for n in range(args.rounds):
                # Pairs, each baseline next to its measurement: this machine's speed drifts
                # within a minute, and one pair's ratio swings with it.
                raws.append(await raw_path(broker, fleet, total, args.events))
                ctls.append(await controller_path(broker, fleet, creds, args.events,
                                                  Path(tmp) / f"controller-{n}",
                                                  args.flush_rows, args.ack_hold_s))
                console.print(f"round {n + 1}: controller {ctls[-1]['events_per_s']:,.0f}/s, "
                              f"raw {raws[-1]:,.0f}/s, "
                              f"ratio {ctls[-1]['events_per_s'] / raws[-1]:.3f}")
        finally:
            broker.stop()
    ratios = [c["events_per_s"] / r for c, r in zip(ctls, raws, strict=True)]
    result = {
        "terminals": args.terminals, "events": total, "rounds": args.rounds,
        "events_per_s": round(statistics.median(c["events_per_s"] for c in ctls)),
        "raw_events_per_s": round(statistics.median(raws)),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        "lost": sum(int(c["lost"]) for c in ctls),
        "duplicated": sum(int(c["duplicated"]) for c in ctls),
        "redelivered_and_dropped": sum(int(c["redelivered_and_dropped"]) for c in ctls),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
