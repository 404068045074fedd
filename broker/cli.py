"""`store-controller`: run the controller (`run`) or the whole store demo (`demo`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from rich.console import Console

from broker.controller import Controller
from broker.heap import freeze_startup_heap
from broker.serve import HttpServer
from broker.settings import load_settings
from kiosk.logs import setup_logging


async def run(config: Path | None) -> int:
    settings = load_settings(config)
    controller = Controller(settings)
    console = Console(stderr=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await controller.start()
    http = HttpServer(controller, settings.http.host, settings.http.port)
    try:
        await http.start()
        freeze_startup_heap()
        dialect = controller.db.dialect if controller.db else "?"
        console.print(f"controller up: http://{settings.http.host}:{http.port}/  "
                      f"broker {settings.broker.host}:{settings.broker.port} "
                      f"({settings.broker.mode}), database {dialect}")
        await stop.wait()
    finally:
        await http.stop()
        await controller.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="store-controller", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the controller")
    r.add_argument("--config", type=Path, default=None, help="TOML settings file")
    d = sub.add_parser("demo", help="broker + controller + simulated terminals in two stores")
    d.add_argument("--terminals-per-store", type=int, default=2)
    d.add_argument("--http-port", type=int, default=8080)
    d.add_argument("--broker-port", type=int, default=18830)
    d.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    d.add_argument("--keep-data", action="store_true", help="reuse the last demo's data")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.cmd == "run":
        return asyncio.run(run(args.config))
    from broker.demo import run_demo

    return asyncio.run(run_demo(args))


if __name__ == "__main__":
    raise SystemExit(main())
