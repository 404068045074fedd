"""The store demo: managed Mosquitto, controller with its console, terminals in two stores.

Every terminal is a real `kiosk agent` process with its own credentials and SQLite outbox,
sending synthetic engagement events. Ctrl-C stops all of it and leaves no process behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from broker import storage
from broker.controller import Controller
from broker.demo_checkout import demo_pos_loop, seed_store_locations
from broker.demo_content import seed_demo_content
from broker.heap import freeze_startup_heap
from broker.mosquitto import free_port
from broker.serve import HttpServer, port_free
from broker.settings import Settings
from broker.storage import signage
from kiosk import credentials

STORES: list[dict[str, Any]] = [
    dict(store_id="sh-jingan-01", name="Jing'an Hypermarket", city="Shanghai", district="Jing'an",
         format="hypermarket", footfall_tier=5, tags=("flagship", "mall"),
         timezone="Asia/Shanghai"),
    dict(store_id="hz-xihu-07", name="West Lake Express", city="Hangzhou", district="Xihu",
         format="convenience", footfall_tier=2, tags=("campus",), timezone="Asia/Shanghai"),
]
SCREENS = [(10.1, "landscape", "1280x800"), (12.0, "portrait", "1080x1920")]


async def run_demo(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    data_dir: Path = args.data_dir
    if data_dir.exists() and not args.keep_data:
        shutil.rmtree(data_dir)
    host = "127.0.0.1"
    broker_port = args.broker_port if port_free(host, args.broker_port) else free_port()
    http_port = args.http_port if port_free(host, args.http_port) else 0
    settings = Settings.model_validate({
        "controller": {"data_dir": data_dir / "controller"},
        "broker": {"port": broker_port}, "http": {"port": http_port},
    })
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    controller = Controller(settings)
    http = HttpServer(controller, host, http_port)
    agents: list[subprocess.Popen[bytes]] = []
    try:
        with console.status("starting Mosquitto and the controller…"):
            await controller.start()
            await http.start()
            freeze_startup_heap()
        creds_files = await _provision(controller, data_dir, args.terminals_per_store)
        with console.status("drawing sample creatives and booking the demo campaigns…"):
            tokens = await seed_demo_content(controller, data_dir)
        await seed_store_locations(controller)
        for device_id, path in creds_files:
            log = (data_dir / "terminals" / device_id / "agent.log").open("ab")
            agents.append(subprocess.Popen(
                [sys.executable, "-m", "kiosk.cli", "agent", "--credentials", str(path),
                 "--data-dir", str(path.parent), "--synthetic-events-per-s", "2",
                 "--heartbeat-s", "5", "--demo-shopper", "-v"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        tills = [(d, d.rsplit("-t", 1)[0]) for d, _ in creds_files]
        pos = asyncio.create_task(demo_pos_loop(controller, tills, stop))
        sandbox_url = controller.checkout.sandbox.base_url if (
            controller.checkout and controller.checkout.sandbox) else "(off)"
        url = f"http://{host}:{http.port}/"
        console.print(Panel.fit(
            f"[bold]Store demo running[/bold]\n\n"
            f"console      {url}\n"
            f"health       {url}healthz\n"
            f"devices API  {url}api/devices\n"
            f"playlist     {url}api/devices/{creds_files[0][0]}/preview (admin token)\n"
            f"reports      {url}api/reports?since={_today()}&until={_today()}&format=csv\n"
            f"brand tokens {', '.join(f'{b}={t}' for b, t in tokens.items())}\n"
            f"POS orders   POST {url}api/orders (admin token; see README)\n"
            f"pay sandbox  {sandbox_url}/wallet?code_url=… (WeChat Pay v3 sandbox)\n"
            f"broker       mqtt://{host}:{broker_port} (managed Mosquitto, per-device logins)\n"
            f"admin token  {controller.admin_token}\n"
            f"data         {data_dir.resolve()} (SQLite, terminal outboxes, agent logs)\n\n"
            f"{len(agents)} terminals in {len(STORES)} stores play the campaigns that target\n"
            "their store and send proof-of-play and engagement events; a demo till\n"
            "rings up an order every few seconds, paid by QR through the sandbox.\n"
            "Ctrl-C stops everything.", title="store-terminal"))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 10)
            s = controller.status()
            pushed = controller.playlists.last if controller.playlists else None
            paid = controller.payments.driver.stats.paid if controller.payments else 0
            console.print(f"[dim]{paid} orders paid; "
                          f"playlists: {pushed.playlists if pushed else 0} distinct, "
                          f"{await _in_sync(controller)} terminals playing the latest; "
                          f"{s['events_stored']} events stored, "
                          f"{sum(s['rejected'].values())} rejected, "
                          f"{sum(a.poll() is None for a in agents)} terminals running[/dim]")
        pos.cancel()
    finally:
        console.print("stopping…")
        for proc in agents:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in agents:
            try:
                await asyncio.to_thread(proc.wait, 5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await http.stop()
        await controller.stop()
        console.print("stopped: broker, controller and terminals are down.")
    return 0


def _today() -> str:
    return time.strftime("%Y-%m-%d")


async def _in_sync(controller: Controller) -> int:
    assert controller.db is not None
    return sum(p.in_sync for p in (await signage.get_published(controller.db)).values())


async def _provision(controller: Controller, data_dir: Path,
                     per_store: int) -> list[tuple[str, Path]]:
    assert controller.db is not None
    out = []
    for spec in STORES:
        now = int(time.time() * 1000)
        await storage.upsert_store(controller.db, storage.StoreRecord(**spec, created_ms=now))
        for i in range(per_store):
            size, orientation, resolution = SCREENS[i % len(SCREENS)]
            device_id = f"{spec['store_id']}-t{i + 1}"
            creds = await controller.provision_device(storage.DeviceRecord(
                device_id=device_id, store_id=str(spec["store_id"]), screen_size_in=size,
                orientation=orientation, resolution=resolution, created_ms=now))
            path = data_dir / "terminals" / device_id / "credentials.json"
            credentials.save(path, [creds])
            out.append((device_id, path))
    return out
