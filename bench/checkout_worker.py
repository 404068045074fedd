"""Simulated checkout terminals for bench/checkout.py, in their own process.

Each terminal is a real `KioskAgent`. On `GO <rounds>` (stdin) every terminal, at the same
time, repeats: the POS posts an order (HTTP), the terminal is told over MQTT, asks the
controller for a dynamic QR (`checkout.pay`, MQTT 5 request/response), the shopper's wallet
scans and approves it at the sandbox, and the terminal waits for the `checkout.update` that
says paid. Prints `DONE <json>` with each order's end-to-end seconds.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import httpx

from kiosk.agent.agent import AgentConfig, KioskAgent
from kiosk.credentials import DeviceCredentials
from kiosk.fleet import Fleet


class Till:
    def __init__(self, agent: KioskAgent) -> None:
        self.agent = agent
        self.waiting: dict[tuple[str, str], asyncio.Future[None]] = {}
        agent.commands.register("checkout.order", self._pushed("open"))
        agent.commands.register("checkout.update", self._pushed("paid"))

    def _pushed(self, state: str) -> Any:
        async def handle(args: dict[str, Any]) -> dict[str, Any]:
            order = args.get("order") or {}
            if order.get("state") == state:  # may come before anyone waits for it
                fut = self.expect(order.get("order_id", ""), state)
                if not fut.done():
                    fut.set_result(None)
            return {}
        return handle

    def expect(self, order_id: str, state: str) -> asyncio.Future[None]:
        fut = self.waiting.setdefault((order_id, state),
                                      asyncio.get_running_loop().create_future())
        return fut

    async def one_order(self, pos: httpx.AsyncClient, wallet: httpx.AsyncClient,
                        n: int) -> float:
        device_id = self.agent.cfg.device_id
        t0 = time.perf_counter()
        r = await pos.post("/api/orders", json={
            "store_id": "st-0000", "device_id": device_id, "brand_id": "bench",
            "items": [{"sku": "A1", "name": "Milk", "qty": 1, "unit_fen": 990,
                       "category": "dairy"}],
            "idempotency_key": f"{device_id}-{n:06d}"})
        r.raise_for_status()
        order_id = r.json()["order"]["order_id"]
        paid = self.expect(order_id, "paid")
        await asyncio.wait_for(self.expect(order_id, "open"), 60)
        res = await self.agent.request("checkout.pay", {"order_id": order_id,
                                                        "method": "native"},
                                       idempotency_key=f"pay-{order_id}", timeout=60)
        if not res.ok or res.result is None:
            raise RuntimeError(f"pay refused: {res.error}")
        code_url = res.result["attempt"]["code_url"]
        s = await wallet.post("/sandbox/scan", json={"code_url": code_url, "approve": True})
        s.raise_for_status()
        await asyncio.wait_for(paid, 60)
        return time.perf_counter() - t0


async def run_round(tills: list[Till], rounds: int, parallel: bool, pos: httpx.AsyncClient,
                    wallet: httpx.AsyncClient, base: int,
                    spread_s: float = 0.0) -> tuple[list[float], list[str]]:
    """`spread_s` > 0: each terminal's shoppers arrive at random times over that many seconds
    (per round) instead of all at the same instant."""
    errors: list[str] = []
    e2e: list[float] = []
    rng = random.Random(base)

    async def run(till: Till, first: int) -> None:
        for r in range(rounds):
            if spread_s:
                await asyncio.sleep(rng.uniform(0, spread_s))
            try:
                e2e.append(await till.one_order(pos, wallet, first + r))
            except Exception as exc:  # reported, not raised: the bench says what failed
                errors.append(repr(exc)[:200])

    if parallel:
        await asyncio.gather(*[run(t, base + 1000 * i) for i, t in enumerate(tills)])
    else:
        for i, t in enumerate(tills):
            await run(t, base + 1000 * i)
    return e2e, errors


async def main(creds_path: Path, http_url: str, admin_token: str, sandbox_url: str) -> None:
    creds = [DeviceCredentials(**c) for c in json.loads(creds_path.read_text())]
    fleet = Fleet(creds, agent_config=AgentConfig(device_id="x", password="x",
                                                  heartbeat_s=3600))
    tills = [Till(a) for a in fleet.agents]
    await fleet.start(timeout=120)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    pos = httpx.AsyncClient(base_url=http_url, limits=limits, timeout=60,
                            headers={"Authorization": f"Bearer {admin_token}"})
    wallet = httpx.AsyncClient(base_url=sandbox_url, limits=limits, timeout=60)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)
    n = 0
    while line := (await reader.readline()).decode().split():
        if line[0] == "STOP":
            break
        rounds, which = int(line[1]), tills if line[2] == "all" else tills[:int(line[2])]
        t0 = time.perf_counter()
        spread = float(line[4]) if len(line) > 4 else 0.0
        e2e, errors = await run_round(which, rounds, line[3] == "parallel", pos, wallet, n,
                                      spread)
        n += 100_000
        print("DONE " + json.dumps({"e2e": e2e, "errors": errors,
                                    "wall_s": time.perf_counter() - t0}), flush=True)
    await pos.aclose()
    await wallet.aclose()
    await fleet.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
