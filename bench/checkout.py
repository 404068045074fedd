"""Checkout throughput and controller-side latency: terminals paying by dynamic QR at once.

A managed Mosquitto, the WeChat Pay v3 sandbox in its own process, the controller (with its
HTTP server, where the sandbox posts its signed notifications) and N simulated terminals (real
agents, in their own process). Every order: the POS posts it, the terminal is told over MQTT,
asks for a QR (`checkout.pay`), the wallet scans and approves it at the sandbox, the sandbox
notifies the controller, the controller marks it paid and tells the terminal.

Latency of an order on the controller side = the POS request that creates it (and pushes it
to the terminal), its `checkout.pay` request (from the moment the MQTT message reached the
controller, so time queued inside the controller counts) and its payment notification, each
to its answer, minus the time spent waiting for the sandbox.
Measured in the same run:
  baseline   one terminal paying alone, `--baseline` orders in a row (p50 is the reference)
  load       all terminals paying at the same time, `--rounds` orders each
Last line: {"orders", "orders_per_s", "p50_ms", "p99_ms", "baseline_p50_ms", "p99_ratio", ...}
Usage: python bench/checkout.py [--terminals 200] [--rounds 3] [--spread-s 0]
`--spread-s 60` spreads each terminal's shoppers over a minute (a busy store hour) instead of
starting all 200 payments in the same instant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import psutil
from rich.console import Console

from broker import storage
from broker.controller import Controller
from broker.mosquitto import BrokerConfig, ManagedBroker, free_port, generate_password
from broker.serve import HttpServer
from broker.settings import Settings
from broker.storage import signage
from kiosk.credentials import DeviceCredentials

console = Console(stderr=True)
WORKER = Path(__file__).with_name("checkout_worker.py")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def start_sandbox(keys_dir: Path) -> tuple[asyncio.subprocess.Process, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.payments.sandbox", "--port", str(port), "--keys-dir",
        str(keys_dir), "--refund-delay-ms", "0", "--notify-retry-ms", "200", "500", "1000",
        "2000", "--log-level", "warning", stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    if "sandbox on" not in line:
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, f"http://127.0.0.1:{port}"


async def setup(c: Controller, broker: ManagedBroker, terminals: int) -> list[DeviceCredentials]:
    assert c.db is not None
    now = int(time.time() * 1000)
    await storage.upsert_store(c.db, storage.StoreRecord(
        store_id="st-0000", name="Bench store", city="Shanghai", district="Xuhui",
        format="supermarket", footfall_tier=3, timezone="Asia/Shanghai", created_ms=now))
    await signage.create_brand(c.db, signage.BrandRecord("bench", "Bench", "0" * 64, now))
    creds = []
    for i in range(terminals):
        device_id = f"till-{i:04d}"
        await storage.add_device(c.db, storage.DeviceRecord(
            device_id=device_id, store_id="st-0000", screen_size_in=10.1,
            orientation="landscape", resolution="1280x800", created_ms=now))
        creds.append(DeviceCredentials(device_id, generate_password(), "127.0.0.1",
                                       broker.endpoint.port, c.content_key))
    broker.set_users({d.device_id: d.password for d in creds})
    return creds


async def phase(worker: asyncio.subprocess.Process, c: Controller, command: str,
                label: str) -> tuple[dict[str, Any], list[float]]:
    assert worker.stdin is not None and worker.stdout is not None and c.payments
    c.payments.latency.samples.clear()
    with console.status(label):
        worker.stdin.write((command + "\n").encode())
        await worker.stdin.drain()
        line = (await asyncio.wait_for(worker.stdout.readline(), 900)).decode()
    if not line.startswith("DONE "):
        raise RuntimeError(f"terminal worker said {line!r}")
    result = json.loads(line[5:])
    per_order = c.payments.latency.by_key({"pos.order", "checkout.pay", "notification"})
    return result, [s * 1000 for s in per_order.values()]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3, help="orders per terminal under load")
    ap.add_argument("--baseline", type=int, default=20, help="orders of the lone terminal")
    ap.add_argument("--db-url", default="", help="PostgreSQL URL (default SQLite)")
    ap.add_argument("--spread-s", type=float, default=0.0,
                    help="shoppers arrive at random times over this many seconds per round "
                         "(0: every terminal starts each order at the same instant)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp_name:
        tmp = Path(tmp_name)
        broker = ManagedBroker(BrokerConfig(port=free_port(), data_dir=tmp / "mosquitto",
                                            max_queued_messages=100_000))
        broker.start()
        sandbox, sandbox_url = await start_sandbox(tmp / "sandbox-keys")
        settings = Settings.model_validate({
            "controller": {"data_dir": tmp / "controller", "db_url": args.db_url},
            "broker": {"mode": "external", "port": broker.endpoint.port,
                       "controller_password": "bench-controller"},
            "http": {"port": 0, "admin_token": "bench-admin"},
            "payments": {"sandbox_url": sandbox_url, "sandbox_keys_dir": tmp / "sandbox-keys"},
        })
        c = Controller(settings, broker=broker)
        await c.start()
        http = HttpServer(c, "127.0.0.1", 0)
        await http.start()
        worker = None
        try:
            creds = await setup(c, broker, args.terminals)
            creds_file = tmp / "tills.json"
            creds_file.write_text(json.dumps([asdict(x) for x in creds]))
            with console.status(f"connecting {len(creds)} terminals…"):
                worker = await asyncio.create_subprocess_exec(
                    sys.executable, str(WORKER), str(creds_file),
                    f"http://127.0.0.1:{http.port}", "bench-admin", sandbox_url,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                assert worker.stdout is not None
                ready = (await asyncio.wait_for(worker.stdout.readline(), 180)).decode()
                if ready.strip() != "READY":
                    raise RuntimeError(f"terminal worker said {ready!r}")
            procs = {"controller": psutil.Process(), "terminals": psutil.Process(worker.pid),
                     "sandbox": psutil.Process(sandbox.pid)}
            base_cpu0 = sum(procs["controller"].cpu_times()[:2])
            base, base_ms = await phase(worker, c, f"GO {args.baseline} 1 serial",
                                        f"baseline: one terminal, {args.baseline} orders…")
            base_cpu = sum(procs["controller"].cpu_times()[:2]) - base_cpu0
            cpu0 = {k: sum(p.cpu_times()[:2]) for k, p in procs.items()}
            load, load_ms = await phase(
                worker, c, f"GO {args.rounds} all parallel {args.spread_s}",
                f"{args.terminals} terminals × {args.rounds} orders, all at once…")
            cpu = {k: round(sum(p.cpu_times()[:2]) - cpu0[k], 2) for k, p in procs.items()}
            orders = len(load["e2e"])
            assert c.payments is not None
            e2e_ms = [s * 1000 for s in load["e2e"]]
            out = {
                "orders": orders, "errors": len(load["errors"]),
                "orders_per_s": round(orders / load["wall_s"], 1),
                "p50_ms": round(pct(load_ms, 0.5), 1), "p99_ms": round(pct(load_ms, 0.99), 1),
                "max_ms": round(max(load_ms), 1),
                "baseline_p50_ms": round(pct(base_ms, 0.5), 1),
                "p99_ratio": round(pct(load_ms, 0.99) / pct(base_ms, 0.5), 2),
                "e2e_p50_ms": round(pct(e2e_ms, 0.5), 1), "e2e_p99_ms": round(pct(e2e_ms, 0.99), 1),
                "baseline_e2e_p50_ms": round(pct([s * 1000 for s in base["e2e"]], 0.5), 1),
                "notifications": c.payments.notifications.stats.received,
                "controller_cpu_ms_per_order": round(cpu["controller"] * 1000 / max(1, orders), 1),
                "baseline_controller_cpu_ms_per_order": round(
                    base_cpu * 1000 / max(1, len(base["e2e"])), 1),
                "cpu_s": cpu, "terminals": args.terminals, "spread_s": args.spread_s,
                "database": c.db.dialect if c.db else None,
            }
            if load["errors"]:
                console.print(f"[red]{len(load['errors'])} orders failed[/red], first: "
                              f"{load['errors'][0]}")
            console.print(f"controller-side per order: mean {statistics.mean(load_ms):.1f} ms")
            print(json.dumps(out), flush=True)
        finally:
            if worker is not None and worker.stdin is not None:
                worker.stdin.write(b"STOP\n")
                await worker.stdin.drain()
                await asyncio.wait_for(worker.wait(), 30)
            await http.stop()
            await c.stop()
            sandbox.terminate()
            await sandbox.wait()
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
