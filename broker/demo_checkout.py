"""The demo's till and wallets: a POS rings up an order at a random terminal every so often,
and a shopper's wallet scans the QR the terminal shows (through the sandbox's wallet API).

The terminals run their real checkout flow with a simulated shopper (`kiosk agent
--demo-shopper`), so every order goes POS → MQTT → terminal → controller → sandbox →
signed notification → paid → one-tap join, as in a store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import httpx

from broker.controller import Controller
from broker.payments.order_input import NewOrder
from broker.storage import list_devices
from broker.storage import payments as pay_db
from broker.storage.store_geo import set_store_location

log = logging.getLogger(__name__)

CATALOGUE = [("milk", "Fresh milk 1L", 1290, "dairy"), ("apples", "Fuji apples", 1880, "fresh"),
             ("bread", "Sourdough", 1500, "bakery"), ("tea", "Oolong tea", 4200, "grocery"),
             ("salmon", "Salmon fillet", 6800, "fresh"), ("yogurt", "Yogurt x4", 1690, "dairy")]
STORE_GEO = {"sh-jingan-01": (31.2286, 121.4465), "hz-xihu-07": (30.2592, 120.1300)}


async def seed_store_locations(c: Controller) -> None:
    assert c.db is not None
    for store_id, (lat, lon) in STORE_GEO.items():
        await set_store_location(c.db, store_id, lat, lon)


async def demo_pos_loop(c: Controller, terminals: list[tuple[str, str]], stop: asyncio.Event,
                        every_s: float = 8.0, brand_id: str = "freshmart") -> None:
    """`terminals`: (device_id, store_id). Runs until `stop` is set."""
    if c.checkout is None or c.checkout.sandbox is None or not terminals:
        return
    rng = random.Random()
    wallets = [f"o-demo-{i}" for i in range(8)]
    async with httpx.AsyncClient(base_url=c.checkout.sandbox.base_url, timeout=10) as sandbox:
        for payer in wallets:  # a few regular shoppers: repeat visits earn points at once
            with contextlib.suppress(httpx.HTTPError):
                await sandbox.post("/sandbox/payers", json={
                    "name": payer, "payer_id": payer, "balance_fen": 10**8})
        await _wait_online(c, [d for d, _ in terminals], stop)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                await _one_sale(c, sandbox, rng, terminals, wallets, brand_id, n)
            except Exception as exc:  # the demo goes on; the log says why a sale failed
                log.warning("demo sale %d failed: %r", n, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s * rng.uniform(0.5, 1.5))


async def _wait_online(c: Controller, device_ids: list[str], stop: asyncio.Event) -> None:
    """Orders are pushed over MQTT: ring up the first one once the terminals listen."""
    assert c.db is not None
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        online = {d.device_id for d in await list_devices(c.db) if d.online}
        if online >= set(device_ids):
            return
        await asyncio.sleep(0.5)


async def _one_sale(c: Controller, sandbox: httpx.AsyncClient, rng: random.Random,
                    terminals: list[tuple[str, str]], wallets: list[str], brand_id: str,
                    n: int) -> None:
    assert c.payments is not None and c.db is not None
    device_id, store_id = rng.choice(terminals)
    items = [{"sku": sku, "name": name, "qty": rng.randint(1, 3), "unit_fen": fen,
              "category": cat} for sku, name, fen, cat in rng.sample(CATALOGUE, 2)]
    order, _ = await c.payments.create_order(NewOrder.model_validate({
        "store_id": store_id, "device_id": device_id, "brand_id": brand_id, "items": items,
        "idempotency_key": f"demo-{int(time.time())}-{n}"}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the terminal's shopper asks for a QR
        attempt = await pay_db.latest_attempt(c.db, order.order_id)
        if attempt is not None and attempt.code_url:
            await asyncio.sleep(rng.uniform(1, 3))  # takes the phone out, scans
            r = await sandbox.post("/sandbox/scan", json={
                "code_url": attempt.code_url, "payer_id": rng.choice(wallets),
                "approve": rng.random() < 0.9})
            r.raise_for_status()
            return
        await asyncio.sleep(0.5)
    log.info("demo order %s was not paid (no QR shown)", order.order_id)
