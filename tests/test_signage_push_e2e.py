"""Campaign booked through the API → signed playlists pushed over MQTT → terminals download,
verify and switch; only terminals whose playlist changed get a new config; reports by brand.

Real Mosquitto, real controller, real HTTP server for downloads, real agents."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import agent_for, now_ms, provision, wait_until
from PIL import Image

from broker import storage
from broker.controller import Controller
from broker.serve import HttpServer
from broker.storage import signage
from content.signing import public_key_from_text
from kiosk.player import ContentLibrary
from kiosk.signage import TerminalSignage

ADMIN = {"Authorization": "Bearer test-admin-token"}


def png(colour: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def console(controller: Controller):
    server = HttpServer(controller, "127.0.0.1", 0)
    await server.start()
    async with httpx.AsyncClient(base_url=controller.content_base_url, timeout=10) as client:
        yield client
    await server.stop()


async def upload(http: httpx.AsyncClient, headers: dict[str, str], data: bytes, name: str,
                 house: bool = False) -> dict[str, Any]:
    resp = await http.post("/api/creatives", headers=headers, params={"house": house},
                           files={"file": (name, data, "application/octet-stream")})
    assert resp.status_code == 201, resp.text
    return resp.json()


def campaign(sha: str, **changes: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"campaign_id": "nordic-spring", "brand_id": "nordic", "name": "Spring roast",
            "flight_start": str(today - timedelta(days=1)),
            "flight_end": str(today + timedelta(days=7)), "dayparts": "Mon-Sun 00-24",
            "priority": 5, "plays_per_hour": 12,
            "creatives": [{"sha256": sha, "duration_ms": 10_000}],
            "rule": {"cities": ["Shanghai"]}} | changes


async def test_booked_campaign_reaches_only_targeted_terminals(
        controller: Controller, console: httpx.AsyncClient, run_agent, tmp_path: Path) -> None:
    assert controller.db is not None
    await storage.upsert_store(controller.db, storage.StoreRecord(
        store_id="hz-07", name="West Lake Express", city="Hangzhou", district="Xihu",
        format="convenience", footfall_tier=2, timezone="Asia/Shanghai", created_ms=now_ms()))
    house = await upload(console, ADMIN, png("grey", (1280, 720)), "house.png", house=True)
    brand = (await console.post("/api/brands", headers=ADMIN,
                                json={"brand_id": "nordic", "name": "Nordic Roast"})).json()
    as_brand = {"Authorization": f"Bearer {brand['token']}"}
    ad = await upload(console, as_brand, png("brown", (1280, 720)), "roast.png")

    signs: dict[str, TerminalSignage] = {}
    for device_id, store_id in (("sh-01-t1", "sh-01"), ("hz-07-t1", "hz-07")):
        creds = await provision(controller, device_id, store_id)
        agent = agent_for(creds, tmp_path / device_id)
        library = ContentLibrary(tmp_path / device_id / "content", 50_000_000,
                                 trusted_keys=public_key_from_text(creds.content_key))
        signs[device_id] = TerminalSignage(agent, library)
        await run_agent(agent)
        asyncio.get_running_loop().create_task(signs[device_id].run())

    def playing(device_id: str) -> set[str | None]:
        current = signs[device_id].library.current()
        if current is None or current.manifest.playlist is None:
            return set()
        return {i.campaign_id for h in current.manifest.playlist.hours for i in h.items}

    resp = await console.post("/api/campaigns", headers=as_brand, json=campaign(ad["sha256"]))
    assert resp.status_code == 201, resp.text
    await wait_until(lambda: "nordic-spring" in playing("sh-01-t1"), 20, "Shanghai playlist")
    await wait_until(lambda: playing("hz-07-t1") == {None}, 20, "Hangzhou house playlist")
    shanghai = signs["sh-01-t1"].library.current()
    assert shanghai is not None and shanghai.manifest.playlist is not None
    assert {f.sha256 for f in shanghai.manifest.files} == {house["sha256"], ad["sha256"]}
    first_hour = shanghai.manifest.playlist.hours[0]
    assert sum(i.campaign_id == "nordic-spring" for i in first_hour.items) == 12

    async def activated() -> bool:
        rows = await signage.get_published(controller.db)  # type: ignore[arg-type]
        return len(rows) == 2 and all(r.in_sync for r in rows.values())

    await wait_until(activated, 20, "both terminals to report their playlist active")
    before = await signage.get_published(controller.db)

    # A change that only affects Shanghai: only that terminal gets a new config.
    record = (await console.get("/api/campaigns", headers=as_brand)).json()[0]
    changed = campaign(ad["sha256"], plays_per_hour=20)
    resp = await console.put("/api/campaigns/nordic-spring", headers=as_brand | {
        "If-Match": str(record["revision"])}, json=changed)
    assert resp.status_code == 200, resp.text
    stale = await console.put("/api/campaigns/nordic-spring", headers=as_brand | {
        "If-Match": str(record["revision"])}, json=changed)
    assert stale.status_code == 412

    async def republished() -> bool:
        rows = await signage.get_published(controller.db)  # type: ignore[arg-type]
        return rows["sh-01-t1"].config_version > before["sh-01-t1"].config_version

    await wait_until(republished, 20, "the Shanghai terminal's new config")
    await wait_until(activated, 20, "the new playlist to be active")
    after = await signage.get_published(controller.db)
    assert after["hz-07-t1"] == before["hz-07-t1"]  # untouched: same digest, same version
    current = signs["sh-01-t1"].library.current()
    assert current is not None and current.manifest.playlist is not None
    assert sum(i.campaign_id == "nordic-spring"
               for i in current.manifest.playlist.hours[0].items) == 20


async def test_impossible_or_foreign_bookings_are_refused_with_reasons(
        controller: Controller, console: httpx.AsyncClient) -> None:
    brand = (await console.post("/api/brands", headers=ADMIN,
                                json={"brand_id": "nordic", "name": "Nordic Roast"})).json()
    other = (await console.post("/api/brands", headers=ADMIN,
                                json={"brand_id": "lumen", "name": "Lumen"})).json()
    as_brand = {"Authorization": f"Bearer {brand['token']}"}
    as_other = {"Authorization": f"Bearer {other['token']}"}
    ad = await upload(console, as_brand, png("brown", (1280, 720)), "roast.png")

    backwards = campaign(ad["sha256"], flight_start="2030-02-01", flight_end="2030-01-01")
    resp = await console.post("/api/campaigns", headers=as_brand, json=backwards)
    assert resp.status_code == 422 and "flight" in resp.text
    stolen = await console.post("/api/campaigns", headers=as_other,
                                json=campaign(ad["sha256"], campaign_id="lumen-1"))
    assert stolen.status_code == 422 and "not an uploaded creative" in resp.text + stolen.text
    bad = await console.post("/api/creatives", headers=as_brand,
                             files={"file": ("fake.png", b"MZ\x90\x00 not an image", "image/png")})
    assert bad.status_code == 422 and bad.json()["detail"]["reason"] == "unknown_type"
    assert (await console.get("/api/campaigns", headers=as_other)).json() == []
    assert (await console.get("/api/creatives", headers={"Authorization": "Bearer x"})
            ).status_code == 401


async def test_reports_show_a_brand_only_its_own_campaigns(
        controller: Controller, console: httpx.AsyncClient, run_agent, tmp_path: Path) -> None:
    brand = (await console.post("/api/brands", headers=ADMIN,
                                json={"brand_id": "nordic", "name": "Nordic Roast"})).json()
    as_brand = {"Authorization": f"Bearer {brand['token']}"}
    ad = await upload(console, as_brand, png("brown", (1280, 720)), "roast.png")
    assert (await console.post("/api/campaigns", headers=as_brand,
                               json=campaign(ad["sha256"]))).status_code == 201
    agent = await run_agent(agent_for(await provision(controller, "sh-01-t1"), tmp_path))
    t = now_ms()
    for cid, outcome in (("nordic-spring", "complete"), ("nordic-spring", "interrupted"),
                         ("someone-else", "complete"), (None, "complete")):
        await agent.record("ad.play", {"campaign_id": cid, "creative": ad["sha256"],
                                       "start_ms": t - 10_000, "played_ms": 10_000 if
                                       outcome == "complete" else 4_000, "outcome": outcome})
    await agent.record("ad.touch", {"campaign_id": "nordic-spring", "creative": ad["sha256"]})
    await wait_until(lambda: controller.status()["events_stored"] >= 5, 10, "events stored")
    today = datetime.now(UTC).astimezone().date()
    params = {"since": str(today - timedelta(days=1)), "until": str(today + timedelta(days=1))}
    rows = (await console.get("/api/reports", headers=as_brand, params=params)).json()
    assert [(r["campaign_id"], r["store_id"], r["impressions"], r["complete_plays"],
             r["seconds_played"], r["touches"]) for r in rows] == [
        ("nordic-spring", "sh-01", 2, 1, 14.0, 1)]
    csv_text = (await console.get("/api/reports", headers=as_brand,
                                  params=params | {"format": "csv"})).text
    assert csv_text.splitlines()[0].startswith("campaign_id,store_id,bucket_start")
    assert len(csv_text.splitlines()) == 2
    admin_rows = (await console.get("/api/reports", headers=ADMIN, params=params)).json()
    assert {r["campaign_id"] for r in admin_rows} == {"nordic-spring", None}
