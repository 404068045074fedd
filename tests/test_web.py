"""The controller's HTTP API and device page, through the real ASGI app."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import agent_for, wait_until

from broker.controller import Controller
from broker.web import create_app

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
async def http(controller: Controller):
    transport = httpx.ASGITransport(app=create_app(controller))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


async def test_health_reports_broker_and_database(http: httpx.AsyncClient) -> None:
    body = (await http.get("/healthz")).json()
    assert body["status"] == "ok" and body["broker_connected"] and body["database"] == "sqlite"


async def test_registry_writes_need_the_admin_token(http: httpx.AsyncClient) -> None:
    store = {"store_id": "hz-02", "name": "Hangzhou Two", "city": "Hangzhou"}
    assert (await http.post("/api/stores", json=store)).status_code == 401
    bad = await http.post("/api/stores", json=store,
                          headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    created = await http.post("/api/stores", json=store, headers=ADMIN)
    assert created.status_code == 201, created.text
    wrong_tz = await http.post("/api/stores", json=store | {"timezone": "Mars/Olympus"},
                               headers=ADMIN)
    assert wrong_tz.status_code == 422 and "timezone" in wrong_tz.text
    cities = {s["city"] for s in (await http.get("/api/stores")).json()}
    assert cities == {"Shanghai", "Hangzhou"}


async def test_provisioned_terminal_connects_and_shows_online(
        http: httpx.AsyncClient, controller: Controller, run_agent, tmp_path: Path) -> None:
    resp = await http.post("/api/devices", headers=ADMIN, json={
        "device_id": "sh-01-w1", "store_id": "sh-01", "screen_size_in": 12,
        "orientation": "portrait", "resolution": "1080x1920"})
    assert resp.status_code == 201
    creds = resp.json()["credentials"]
    again = await http.post("/api/devices", headers=ADMIN, json={
        "device_id": "sh-01-w1", "store_id": "sh-01"})
    assert again.status_code == 409
    unknown_store = await http.post("/api/devices", headers=ADMIN, json={
        "device_id": "xx-01-w1", "store_id": "nowhere"})
    assert unknown_store.status_code == 422

    from kiosk.credentials import DeviceCredentials

    await run_agent(agent_for(DeviceCredentials(**creds), tmp_path))

    async def online() -> bool:
        devices = (await http.get("/api/devices")).json()
        return any(d["device_id"] == "sh-01-w1" and d["online"] and d["health"] for d in devices)

    await wait_until(online, what="device online with health")
    page = (await http.get("/")).text
    assert "sh-01-w1" in page and "Shanghai One" in page
    assert 'class="state online"' in page and "1 of 1 online" in page

    cmd = await http.post("/api/devices/sh-01-w1/commands", headers=ADMIN,
                          json={"name": "ping", "wait_s": 5})
    assert cmd.status_code == 201 and cmd.json()["status"] == "done"
    missing = await http.post("/api/devices/nope-01/commands", headers=ADMIN,
                              json={"name": "ping"})
    assert missing.status_code == 404
