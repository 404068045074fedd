"""The store demo's bookings give its two stores different playlists."""

from __future__ import annotations

from pathlib import Path

from conftest import now_ms

from broker import storage
from broker.controller import Controller
from broker.demo import SCREENS, STORES
from broker.demo_content import seed_demo_content


async def test_demo_stores_get_different_playlists(controller: Controller,
                                                   tmp_path: Path) -> None:
    assert controller.db is not None and controller.playlists is not None
    for spec in STORES:
        await storage.upsert_store(controller.db, storage.StoreRecord(**spec,
                                                                      created_ms=now_ms()))
        for i, (size, orientation, resolution) in enumerate(SCREENS):
            await storage.add_device(controller.db, storage.DeviceRecord(
                device_id=f"{spec['store_id']}-t{i + 1}", store_id=str(spec["store_id"]),
                screen_size_in=size, orientation=orientation, resolution=resolution,
                created_ms=now_ms()))
    tokens = await seed_demo_content(controller, tmp_path)
    assert set(tokens) == {"nordic-roast", "lumen-beauty", "freshmart"}
    playlists = await controller.playlists.compile()

    def campaigns(device_id: str) -> set[str | None]:
        return {i.campaign_id for h in playlists[device_id].hours for i in h.items}

    for t in ("t1", "t2"):  # both screen orientations
        assert campaigns(f"sh-jingan-01-{t}") == {"nordic-spring", "freshmart-weekly", None}
        assert campaigns(f"hz-xihu-07-{t}") == {"lumen-campus", "freshmart-weekly", None}
    report = await controller.playlists.async_publish()
    assert report.published == 4 and report.playlists == 4
