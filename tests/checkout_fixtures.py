"""A store that takes payments: managed Mosquitto, a sandbox (WeChat Pay v3) running apart
from the controller, the controller with its HTTP server (notifications arrive there) and
terminals. The sandbox outlives controller restarts, as the real provider would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from conftest import add_store, controller_settings, now_ms, provision

from broker import storage
from broker.controller import Controller
from broker.mosquitto import ManagedBroker
from broker.payments import lifecycle as lc
from broker.payments.order_input import NewOrder
from broker.payments.sandbox import SandboxConfig, SandboxServer
from broker.payments.sandbox.keys import generate, save
from broker.serve import HttpServer
from broker.storage.payments_records import OrderRecord
from broker.storage.signage_records import BrandRecord, token_sha256

FAST_SANDBOX = SandboxConfig(refund_delay_ms=0, notify_retry_delays_ms=(50, 100, 200, 400, 800),
                             notify_timeout_s=2.0, tick_ms=20)
FAST_TIMINGS = lc.Timings(poll_s=0.2, code_deadline_s=3.0, reverse_not_before_s=1.0,
                          native_poll_s=0.5, unknown_query_s=0.1, max_backoff_s=0.5)


@dataclass
class Shop:
    tmp: Path
    broker: ManagedBroker
    sandbox: SandboxServer
    keys_dir: Path
    controller: Controller | None = None
    http: HttpServer | None = None
    admin: httpx.AsyncClient = field(default_factory=httpx.AsyncClient)
    payments_overrides: dict[str, Any] = field(default_factory=dict)
    http_port: int = 0

    @property
    def c(self) -> Controller:
        assert self.controller is not None
        return self.controller

    async def start_controller(self) -> Controller:
        settings = controller_settings(self.tmp, self.broker)
        settings = settings.model_copy(update={"payments": settings.payments.model_copy(
            update={"sandbox_url": self.sandbox.base_url, "sandbox_keys_dir": self.keys_dir,
                    "sweep_s": 0.1, **self.payments_overrides})})
        c = Controller(settings, broker=self.broker, checkout_timings=FAST_TIMINGS)
        await c.start()
        # the same port after a restart: the provider keeps notifying the URL it was given
        self.http = HttpServer(c, "127.0.0.1", self.http_port)
        await self.http.start()
        self.http_port = self.http.port
        self.controller = c
        return c

    async def stop_controller(self) -> None:
        if self.http is not None:
            await self.http.stop()
        if self.controller is not None:
            await self.controller.stop()
        self.controller = self.http = None

    async def sandbox_post(self, path: str, body: dict[str, Any]) -> Any:
        r = await self.admin.post(self.sandbox.base_url + path, json=body)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def order(self, device_id: str, amount_fen: int = 1300, key: str | None = None,
                    category: str = "dairy", brand_id: str = "freshmart") -> OrderRecord:
        assert self.c.payments is not None
        order, _ = await self.c.payments.create_order(NewOrder(
            store_id="sh-01", device_id=device_id, brand_id=brand_id,
            items=[{"sku": "A1", "name": "Milk", "qty": 1, "unit_fen": amount_fen,  # type: ignore[list-item]
                    "category": category}],
            idempotency_key=key or f"pos-{now_ms()}-{id(object())}"))
        return order


@contextlib.asynccontextmanager
async def open_shop(tmp: Path, broker: ManagedBroker,
                    sandbox_config: SandboxConfig = FAST_SANDBOX,
                    **payments: Any) -> AsyncIterator[Shop]:
    keys = generate()
    keys_dir = tmp / "sandbox-keys"
    save(keys, keys_dir)
    async with SandboxServer(keys, config=sandbox_config) as sandbox:
        shop = Shop(tmp, broker, sandbox, keys_dir, payments_overrides=payments)
        c = await shop.start_controller()
        assert c.db is not None
        await add_store(c.db)
        await storage.signage.create_brand(c.db, BrandRecord(
            "freshmart", "FreshMart", token_sha256("fm-token"), now_ms()))
        try:
            yield shop
        finally:
            await shop.stop_controller()
            await shop.admin.aclose()


__all__ = ["Shop", "open_shop", "provision"]
