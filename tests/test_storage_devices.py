"""Stores and devices: registration, foreign keys, presence, heartbeats, reported state."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from storage_fixtures import db as db  # the fixture
from storage_fixtures import make_device, make_store, seed_device

from broker.storage import (
    AlreadyExistsError,
    Database,
    NotFoundError,
    add_device,
    delete_device,
    get_device,
    get_store,
    list_devices,
    list_stores,
    set_presence,
    set_reported_state,
    touch,
    touch_many,
    upsert_store,
)
from broker.storage.schema import devices


async def test_store_upsert_updates_fields_but_keeps_creation_time(db: Database) -> None:
    await upsert_store(db, make_store(tags=("family",)))
    changed = make_store(
        name="Xuhui Fresh Market II",
        footfall_tier=5,
        tags=("family", "夜宵"),
        created_ms=1_800_000_000_000,
    )
    await upsert_store(db, changed)
    stored = await get_store(db, "sh-xuhui-001")
    assert stored is not None
    assert stored.name == "Xuhui Fresh Market II" and stored.footfall_tier == 5
    assert stored.tags == ("family", "夜宵")
    assert stored.created_ms == 1_700_000_000_000


async def test_list_stores_is_ordered_and_filters_by_city(db: Database) -> None:
    await upsert_store(db, make_store("bj-2", city="Beijing", timezone="Asia/Shanghai"))
    await upsert_store(db, make_store("bj-1", city="Beijing", district=""))
    await upsert_store(db, make_store("sh-1"))
    assert [s.store_id for s in await list_stores(db)] == ["bj-1", "bj-2", "sh-1"]
    assert [s.store_id for s in await list_stores(db, city="Beijing")] == ["bj-1", "bj-2"]
    assert await get_store(db, "nowhere") is None


async def test_device_round_trips(db: Database) -> None:
    device = await seed_device(db)
    assert await get_device(db, "term-0001") == device
    assert await get_device(db, "term-9999") is None


async def test_device_of_unknown_store_is_refused(db: Database) -> None:
    with pytest.raises(NotFoundError, match="store 'no-such-store' does not exist"):
        await add_device(db, make_device(store_id="no-such-store"))
    assert await list_devices(db) == []


async def test_device_id_cannot_be_registered_twice(db: Database) -> None:
    await seed_device(db)
    with pytest.raises(AlreadyExistsError, match="device 'term-0001' exists already"):
        await add_device(db, make_device(orientation="portrait"))
    stored = await get_device(db, "term-0001")
    assert stored is not None and stored.orientation == "landscape"


async def test_foreign_key_to_stores_is_enforced_by_the_database(db: Database) -> None:
    row = {
        "device_id": "term-0002",
        "store_id": "ghost-store",
        "screen_size_in": 12.0,
        "orientation": "portrait",
        "resolution": "800x1280",
        "created_ms": 1,
    }
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(insert(devices).values(row))
    assert await get_device(db, "term-0002") is None


async def test_list_devices_by_store(db: Database) -> None:
    await upsert_store(db, make_store("s-a"))
    await upsert_store(db, make_store("s-b"))
    for device_id, store_id in [("t-b1", "s-b"), ("t-a2", "s-a"), ("t-a1", "s-a")]:
        await add_device(db, make_device(device_id, store_id))
    assert [d.device_id for d in await list_devices(db)] == ["t-a1", "t-a2", "t-b1"]
    assert [d.device_id for d in await list_devices(db, store_id="s-a")] == ["t-a1", "t-a2"]


async def test_stale_presence_is_ignored(db: Database) -> None:
    await seed_device(db)
    assert await set_presence(db, "term-0001", True, 2_000, app_version="1.4.0")
    # The Last Will of an older connection arrives late: it must not flip the device offline.
    assert not await set_presence(db, "term-0001", False, 1_000)
    device = await get_device(db, "term-0001")
    assert device is not None
    assert (device.online, device.presence_ms, device.app_version) == (True, 2_000, "1.4.0")
    # Same time: applied (the Will published after the connection it belongs to).
    assert await set_presence(db, "term-0001", False, 2_000)
    device = await get_device(db, "term-0001")
    assert device is not None and not device.online
    assert not await set_presence(db, "term-9999", True, 5_000)


async def test_touch_records_last_seen_and_health(db: Database) -> None:
    await seed_device(db)
    health = {"ts_ms": 5_000, "uptime_s": 12.5, "app_version": "1.5.0", "cpu_temp_c": None}
    assert await touch(db, "term-0001", 5_000, health)
    assert await touch(db, "term-0001", 6_000)  # no health: keeps the last one
    assert not await touch(db, "term-0001", 4_000, {"app_version": "0.1"})  # older: ignored
    device = await get_device(db, "term-0001")
    assert device is not None
    assert device.last_seen_ms == 6_000
    assert device.health == health and device.app_version == "1.5.0"
    assert not await touch(db, "term-9999", 1)


async def test_touch_many_only_moves_last_seen_forward(db: Database) -> None:
    await seed_device(db, "term-0001")
    await add_device(db, make_device("term-0002"))
    await touch(db, "term-0002", 9_000)
    await touch_many(db, {"term-0001": 7_000, "term-0002": 8_000, "term-ghost": 1})
    seen = {d.device_id: d.last_seen_ms for d in await list_devices(db)}
    assert seen == {"term-0001": 7_000, "term-0002": 9_000}
    await touch_many(db, {})


async def test_reported_state_is_stored(db: Database) -> None:
    await seed_device(db)
    state = {"ts_ms": 1, "config_version": 7, "app_version": "1.5.0", "screen": "attract"}
    assert await set_reported_state(db, "term-0001", state, 7)
    device = await get_device(db, "term-0001")
    assert device is not None and device.reported_state == state and device.config_version == 7
    assert not await set_reported_state(db, "term-9999", state, 7)
    with pytest.raises(ValueError, match="config_version"):
        await set_reported_state(db, "term-0001", state, -2)


async def test_delete_device(db: Database) -> None:
    await seed_device(db)
    assert await delete_device(db, "term-0001")
    assert not await delete_device(db, "term-0001")
    assert await get_device(db, "term-0001") is None
    await add_device(db, make_device())  # the id can be registered again


async def test_bulk_reports_follow_the_single_update_rules(db) -> None:
    from broker.storage import DeviceReport, apply_device_reports, get_device, set_presence

    await upsert_store(db, make_store())
    await add_device(db, make_device("term-0001"))
    await add_device(db, make_device("term-0002"))
    await set_presence(db, "term-0002", True, 5_000)
    await apply_device_reports(db, {
        "term-0001": DeviceReport(presence=(True, 1_000),
                                  seen=(1_000, {"app_version": "2.1.0", "uptime_s": 5}),
                                  state=({"screen": "attract"}, 7)),
        "term-0002": DeviceReport(presence=(False, 4_000), seen=(4_000, None)),  # stale presence
        "nobody-01": DeviceReport(presence=(True, 1)),  # unknown ids are ignored
    })
    one = await get_device(db, "term-0001")
    two = await get_device(db, "term-0002")
    assert one is not None and two is not None
    assert one.online and one.last_seen_ms == 1_000 and one.app_version == "2.1.0"
    assert one.health == {"app_version": "2.1.0", "uptime_s": 5}
    assert one.config_version == 7 and one.reported_state == {"screen": "attract"}
    assert two.online and two.presence_ms == 5_000  # older report did not win
    assert two.last_seen_ms == 4_000 and two.health is None
