"""FastAPI app: health, device list page, registry and command API.

Reads are open on the console's own interface; anything that changes the fleet needs the
admin token (`Authorization: Bearer <token>`, kept in the controller's data dir).
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases
# defined inside create_app() at import time.
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from broker import storage
from broker.commands import UnknownDeviceError
from broker.controller import Controller
from broker.web.auth import admin_dependency
from broker.web.content_routes import content_router
from broker.web.members_api import members_router
from broker.web.payments_api import payments_router
from broker.web.receipt_page import receipt_router
from broker.web.signage_api import signage_router

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STALE_AFTER_MS = 90_000  # three missed 30 s heartbeats


class StoreIn(BaseModel):
    store_id: str
    name: str
    city: str
    district: str = ""
    format: str = "supermarket"
    footfall_tier: int = 3
    tags: list[str] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"


class DeviceIn(BaseModel):
    device_id: str
    store_id: str
    screen_size_in: float = 10.1
    orientation: str = "landscape"
    resolution: str = "1280x800"


class CommandIn(BaseModel):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: float = 60.0
    wait_s: float = Field(default=0.0, ge=0, le=30)


def create_app(controller: Controller) -> FastAPI:
    app = FastAPI(title="Store terminal controller", version="0.1.0")
    app.include_router(content_router(lambda: controller.content))
    app.include_router(signage_router(controller))
    app.include_router(payments_router(controller))
    app.include_router(members_router(controller))
    app.include_router(receipt_router(controller))

    def db() -> storage.Database:
        if controller.db is None:
            raise HTTPException(503, "controller is starting")
        return controller.db

    admin = admin_dependency(controller)

    Db = Annotated[storage.Database, Depends(db)]

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        status = controller.status()
        status["status"] = "ok" if status["broker_connected"] and status["database"] else "degraded"
        return status

    @app.get("/api/stores")
    async def list_stores(d: Db) -> list[dict[str, Any]]:
        return [asdict(s) for s in await storage.list_stores(d)]

    @app.post("/api/stores", status_code=201, dependencies=[Depends(admin)])
    async def put_store(body: StoreIn, d: Db) -> dict[str, Any]:
        try:
            record = storage.StoreRecord(**body.model_dump(exclude={"tags"}),
                                         tags=tuple(body.tags), created_ms=_now_ms())
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        await storage.upsert_store(d, record)
        return asdict(record)

    @app.get("/api/devices")
    async def list_devices(d: Db, store_id: str | None = None) -> list[dict[str, Any]]:
        return [asdict(dev) for dev in await storage.list_devices(d, store_id=store_id)]

    @app.post("/api/devices", status_code=201, dependencies=[Depends(admin)])
    async def provision(body: DeviceIn, d: Db) -> dict[str, Any]:
        try:
            record = storage.DeviceRecord(**body.model_dump(), created_ms=_now_ms())
            creds = await controller.provision_device(record)
        except storage.AlreadyExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
        except (ValueError, LookupError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"device": asdict(record), "credentials": asdict(creds)}

    @app.post("/api/devices/{device_id}/commands", status_code=201,
              dependencies=[Depends(admin)])
    async def send_command(device_id: str, body: CommandIn) -> dict[str, Any]:
        assert controller.commands is not None
        try:
            record = await controller.commands.send(device_id, body.name, body.args, body.ttl_s)
        except UnknownDeviceError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if body.wait_s:
            record = await controller.commands.wait_final(record.cmd_id, body.wait_s) or record
        return asdict(record)

    @app.get("/api/commands/{cmd_id}")
    async def get_command(cmd_id: str, d: Db) -> dict[str, Any]:
        record = await storage.get_command(d, cmd_id)
        if record is None:
            raise HTTPException(404, f"no command {cmd_id!r}")
        return asdict(record)

    @app.get("/", response_class=HTMLResponse)
    async def device_page(request: Request, d: Db) -> HTMLResponse:
        now = _now_ms()
        stores = {s.store_id: s for s in await storage.list_stores(d)}
        devices = await storage.list_devices(d)
        rows = []
        for dev in devices:
            silent = dev.last_seen_ms is None or now - dev.last_seen_ms > STALE_AFTER_MS
            rows.append({"dev": dev, "store": stores.get(dev.store_id),
                         "state": "online" if dev.online and not silent
                         else ("silent" if dev.online else "offline"),
                         "seen": _ago(now, dev.last_seen_ms)})
        return TEMPLATES.TemplateResponse(request, "devices.html", {
            "rows": rows, "status": controller.status(),
            "online": sum(r["state"] == "online" for r in rows),
        })

    return app


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ago(now_ms: int, then_ms: int | None) -> str:
    if then_ms is None:
        return "never"
    s = max(0, (now_ms - then_ms) // 1000)
    return f"{s}s ago" if s < 120 else f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago"
