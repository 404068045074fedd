"""`kioskctl`: provision terminals through the controller's API and run simulated ones."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kiosk import credentials
from kiosk.fleet.fleet import Fleet
from kiosk.logs import setup_logging


async def simulate(creds_path: Path, events_per_minute: float, duration_s: float | None,
                   data_dir: Path) -> int:
    creds = credentials.load(creds_path)
    fleet = Fleet(creds, data_dir=data_dir)
    console = Console(stderr=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        connecting = progress.add_task("terminals connected", total=len(creds))
        await fleet.start(lambda n: progress.advance(connecting, n))
    console.print(f"{len(creds)} simulated terminals online; Ctrl-C to stop")
    per_tick = events_per_minute / 60.0
    carry = 0.0
    elapsed = 0.0
    sent = 0
    while not stop.is_set() and (duration_s is None or elapsed < duration_s):
        carry += per_tick
        whole = int(carry)
        if whole:
            carry -= whole
            sent += await fleet.emit(whole, seed=int(elapsed))
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            elapsed += 1.0
    console.print(f"stopping: {sent} events recorded, {await fleet.pending()} not yet acked")
    await fleet.stop()
    return 0


def provision(controller: str, token: str, store_id: str, count: int, prefix: str,
              out: Path) -> int:
    """Register `count` terminals in a store; write their credentials (0600) for `simulate`."""
    console = Console(stderr=True)
    creds: list[credentials.DeviceCredentials] = []
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("provisioning terminals", total=count)
        for i in range(count):
            body = {"device_id": f"{prefix}-{i + 1:04d}", "store_id": store_id}
            req = urllib.request.Request(
                controller.rstrip("/") + "/api/devices", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    creds.append(credentials.DeviceCredentials(**json.load(resp)["credentials"]))
            except urllib.error.HTTPError as exc:
                console.print(f"[red]{body['device_id']}: {exc.code} {exc.read().decode()[:200]}")
                return 1
            progress.advance(task)
    credentials.save(out, creds)
    console.print(f"{len(creds)} credentials written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kioskctl", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim = sub.add_parser("simulate", help="run simulated terminals from a credentials file")
    sim.add_argument("--credentials", type=Path, required=True)
    sim.add_argument("--events-per-minute", type=float, default=6.0,
                     help="engagement events per terminal per minute")
    sim.add_argument("--duration", type=float, default=None, help="seconds; default: until Ctrl-C")
    sim.add_argument("--data-dir", type=Path, default=Path("var/fleet"))
    prov = sub.add_parser("provision", help="register terminals through the controller API")
    prov.add_argument("--controller", default="http://127.0.0.1:8080")
    prov.add_argument("--token", required=True, help="the controller's admin token")
    prov.add_argument("--store", required=True, help="store id the terminals belong to")
    prov.add_argument("--count", type=int, default=10)
    prov.add_argument("--prefix", default="sim")
    prov.add_argument("--out", type=Path, default=Path("var/fleet/credentials.json"))
    args = parser.parse_args(argv)
    if args.cmd == "provision":
        return provision(args.controller, args.token, args.store, args.count, args.prefix,
                         args.out)
    setup_logging(getattr(args, "verbose", False))
    return asyncio.run(simulate(args.credentials, args.events_per_minute, args.duration,
                                args.data_dir))


if __name__ == "__main__":
    raise SystemExit(main())
