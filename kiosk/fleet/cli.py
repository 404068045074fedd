"""`kioskctl`: operate simulated terminals (`simulate`) from a credentials file."""

from __future__ import annotations

import argparse
import asyncio
import signal
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kioskctl", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim = sub.add_parser("simulate", help="run simulated terminals from a credentials file")
    sim.add_argument("--credentials", type=Path, required=True)
    sim.add_argument("--events-per-minute", type=float, default=6.0,
                     help="engagement events per terminal per minute")
    sim.add_argument("--duration", type=float, default=None, help="seconds; default: until Ctrl-C")
    sim.add_argument("--data-dir", type=Path, default=Path("var/fleet"))
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    return asyncio.run(simulate(args.credentials, args.events_per_minute, args.duration,
                                args.data_dir))
