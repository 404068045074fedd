"""Push latency: a changed campaign → every terminal has verified and activated its playlist.

N simulated terminals (real agents with the real signage stack, in their own process) are
connected to a managed Mosquitto; the controller compiles, signs and publishes; each terminal
fetches the manifest over HTTP, checks hash and signature, switches atomically and reports the
new playlist in its retained state. A terminal's latency is the time from the change until the
controller receives that report.

Measured in the same run:
  cold     the first push: every terminal also downloads every creative (the baseline);
  change   a campaign's share of voice changes: new manifests, files already on the terminals.
Last line: {"terminals", "p50_s", "p95_s", "p100_s", "cold_p100_s", "compile_publish_s", ...}
Usage: python bench/push.py [--terminals 1000] [--stores 100]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import psutil
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from broker import storage
from broker.controller import Controller
from broker.mosquitto import BrokerConfig, ManagedBroker, free_port, generate_password
from broker.serve import HttpServer
from broker.settings import Settings
from broker.storage import signage
from content.probe import probe
from kiosk.credentials import DeviceCredentials

console = Console(stderr=True)
WORKER = Path(__file__).with_name("signage_worker.py")  # PUSH_WORKER=<script> swaps it (profiling)
CITIES = ("Shanghai", "Hangzhou", "Suzhou", "Nanjing", "Ningbo")


def png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


async def add_creative(c: Controller, data: bytes, brand_id: str | None) -> str:
    assert c.db is not None and c.content is not None
    found = probe(data)
    sha = c.content.add_file(data)
    await signage.add_creative(c.db, signage.CreativeRecord(
        sha256=sha, name=f"{sha[:12]}.png", media_type=found.media_type, size=found.size,
        width=found.width, height=found.height, created_ms=int(time.time() * 1000),
        brand_id=brand_id))
    return sha


def campaign_spec(sha: str, plays_per_hour: int) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"campaign_id": "bench-roast", "brand_id": "bench", "name": "Bench roast",
            "flight_start": str(today - timedelta(days=1)),
            "flight_end": str(today + timedelta(days=30)), "dayparts": "Mon-Sun 00-23",
            "priority": 5, "plays_per_hour": plays_per_hour,
            "creatives": [{"sha256": sha, "duration_ms": 10_000}]}


async def setup(c: Controller, broker: ManagedBroker, terminals: int,
                stores: int) -> list[DeviceCredentials]:
    assert c.db is not None
    now = int(time.time() * 1000)
    creds = []
    for s in range(stores):
        store_id = f"st-{s:04d}"
        await storage.upsert_store(c.db, storage.StoreRecord(
            store_id=store_id, name=f"Store {s}", city=CITIES[s % len(CITIES)],
            district=f"d{s % 7}", format=("hypermarket", "supermarket", "convenience")[s % 3],
            footfall_tier=1 + s % 5, timezone="Asia/Shanghai", created_ms=now))
    for i in range(terminals):
        device_id = f"bench-{i:05d}"
        portrait = i % 2 == 1
        await storage.add_device(c.db, storage.DeviceRecord(
            device_id=device_id, store_id=f"st-{i % stores:04d}",
            screen_size_in=12.0 if portrait else 10.1,
            orientation="portrait" if portrait else "landscape",
            resolution="1080x1920" if portrait else "1280x800", created_ms=now))
        creds.append(DeviceCredentials(device_id, generate_password(), "127.0.0.1",
                                       broker.endpoint.port, c.content_key))
    broker.set_users({d.device_id: d.password for d in creds})
    await add_creative(c, png((90, 90, 90), (1280, 720)), None)
    await add_creative(c, png((90, 90, 90), (720, 1280)), None)
    await signage.create_brand(c.db, signage.BrandRecord("bench", "Bench", "0" * 64, now))
    return creds


class CpuMeter:
    """CPU seconds (user + system) each process used since the meter was made."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {n: psutil.Process(pid) for n, pid in pids.items() if pid}
        self.start = {n: sum(p.cpu_times()[:2]) for n, p in self.procs.items()}

    def used(self) -> dict[str, float]:
        return {n: round(sum(p.cpu_times()[:2]) - self.start[n], 2)
                for n, p in self.procs.items()}


class Activations:
    """When the controller heard each terminal report a playlist digest active."""

    def __init__(self, c: Controller) -> None:
        assert c.registry is not None
        self.seen: dict[str, tuple[str, float]] = {}
        original = c.registry.activated

        def activated(device_id: str, digest: str, ts_ms: int) -> None:
            self.seen[device_id] = (digest, time.perf_counter())
            original(device_id, digest, ts_ms)

        c.registry.activated = activated  # type: ignore[method-assign]

    async def wait(self, wanted: dict[str, str], t0: float, label: str,
                   timeout: float = 300) -> list[float]:
        def done() -> list[str]:
            return [d for d, digest in wanted.items()
                    if self.seen.get(d, ("", 0.0))[0] == digest]

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as p:
            task = p.add_task(label, total=len(wanted))
            deadline = time.perf_counter() + timeout
            while len(ok := done()) < len(wanted):
                p.update(task, completed=len(ok))
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{label}: {len(wanted) - len(ok)} terminals never "
                                       "activated")
                await asyncio.sleep(0.02)
            p.update(task, completed=len(wanted))
        return sorted(self.seen[d][1] - t0 for d in wanted)


def pct(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--stores", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1,
                    help="processes the simulated terminals are spread over")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp_name:
        tmp = Path(tmp_name)
        broker = ManagedBroker(BrokerConfig(port=free_port(), data_dir=tmp / "mosquitto",
                                            max_queued_messages=100_000))
        broker.start()
        settings = Settings.model_validate({
            "controller": {"data_dir": tmp / "controller"},
            "broker": {"mode": "external", "port": broker.endpoint.port,
                       "controller_password": "bench-controller"},
            "http": {"port": 0}, "signage": {"refresh_s": 3600},
        })
        c = Controller(settings, broker=broker)
        await c.start()
        http = HttpServer(c, "127.0.0.1", 0)
        await http.start()
        workers: list[asyncio.subprocess.Process] = []
        try:
            with console.status("registering stores and terminals…"):
                creds = await setup(c, broker, args.terminals, args.stores)
                ad = await add_creative(c, png((120, 60, 20), (1280, 720)), "bench")
            assert c.db is not None and c.playlists is not None
            act = Activations(c)
            with console.status(f"connecting {len(creds)} terminals…"):
                for w in range(args.workers):
                    creds_file = tmp / f"fleet-{w}.json"
                    creds_file.write_text(json.dumps([asdict(x) for x in creds[w::args.workers]]))
                    workers.append(await asyncio.create_subprocess_exec(
                        sys.executable, os.environ.get("PUSH_WORKER") or str(WORKER),
                        str(creds_file), str(tmp / "terminals"),
                        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
                for worker in workers:
                    assert worker.stdout is not None
                    line = (await worker.stdout.readline()).decode().strip()
                    if line != "READY":
                        raise RuntimeError(f"terminal worker said {line!r}")

            record = signage.CampaignRecord("bench-roast", "bench", "Bench roast",
                                            campaign_spec(ad, 12), int(time.time() * 1000))
            await signage.create_campaign(c.db, record)
            t0 = time.perf_counter()
            cold = await c.playlists.async_publish()
            cold_lat = await act.wait(cold.digests, t0, "cold push (files + manifests)")

            await signage.update_campaign(c.db, "bench-roast", expected_revision=1,
                                          updated_ms=int(time.time() * 1000),
                                          spec=campaign_spec(ad, 20))
            pids = {f"terminals-{i}": w.pid for i, w in enumerate(workers)}
            idle = CpuMeter(pids)
            await asyncio.sleep(5)
            idle_cpu = sum(idle.used().values()) / 5
            console.print(f"idle terminals use {idle_cpu:.2f} CPU cores")
            cpu = CpuMeter({"controller": os.getpid(), "mosquitto": broker.pid or 0}
                           | {f"terminals-{i}": w.pid for i, w in enumerate(workers)})
            if os.environ.get("PUSH_WORKER"):  # profiling hook of a debug worker
                for w in workers:
                    os.kill(w.pid, signal.SIGUSR1)
            t0 = time.perf_counter()
            change = await c.playlists.async_publish()
            publish_s = time.perf_counter() - t0
            if change.changed != len(creds):
                raise RuntimeError(f"only {change.changed} of {len(creds)} playlists changed")
            lat = await act.wait(change.digests, t0, "changed campaign")
            console.print(f"CPU seconds during the change: {cpu.used()}")
        finally:
            for worker in workers:
                if worker.returncode is None:
                    assert worker.stdin is not None
                    worker.stdin.write(b"STOP\n")
                    await worker.stdin.drain()
                    await worker.wait()
            await http.stop()
            await c.stop()
            broker.stop()
    console.print(f"cold push: {cold.playlists} distinct playlists, p100 {cold_lat[-1]:.2f}s; "
                  f"change: compile+sign+publish {publish_s:.2f}s, "
                  f"median {statistics.median(lat):.2f}s")
    print(json.dumps({
        "terminals": len(lat), "p50_s": pct(lat, 0.5), "p95_s": pct(lat, 0.95),
        "p100_s": round(lat[-1], 3), "cold_p50_s": pct(cold_lat, 0.5),
        "cold_p100_s": round(cold_lat[-1], 3), "compile_publish_s": round(publish_s, 3),
        "playlists": change.playlists, "ratio_vs_cold": round(lat[-1] / cold_lat[-1], 3),
        "terminal_processes": args.workers,
    }))


if __name__ == "__main__":
    asyncio.run(main())
