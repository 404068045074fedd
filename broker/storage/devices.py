"""Devices (terminals): registration, presence, heartbeats and reported state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError
from broker.storage.records import DeviceRecord
from broker.storage.schema import devices, stores


def device_from_row(row: Any) -> DeviceRecord:
    values = dict(row._mapping)
    values["online"] = bool(values["online"])
    return DeviceRecord(**values)


async def add_device(db: Database, device: DeviceRecord) -> None:
    """Register a new device.

    Raises `NotFoundError` when its store does not exist and `AlreadyExistsError` when the
    device id is taken.
    """
    store_known = exists().where(stores.c.store_id == device.store_id)
    device_known = exists().where(devices.c.device_id == device.device_id)
    try:
        async with db.write() as conn:
            if not (await conn.execute(select(store_known))).scalar():
                raise NotFoundError(
                    f"device {device.device_id!r}: store {device.store_id!r} does not exist"
                )
            if (await conn.execute(select(device_known))).scalar():
                raise AlreadyExistsError(f"device {device.device_id!r} exists already")
            await conn.execute(insert(devices).values(asdict(device)))
    except IntegrityError as exc:  # a concurrent writer (PostgreSQL) got there first
        if await get_device(db, device.device_id) is not None:
            raise AlreadyExistsError(f"device {device.device_id!r} exists already") from exc
        raise NotFoundError(
            f"device {device.device_id!r}: store {device.store_id!r} does not exist"
        ) from exc


async def get_device(db: Database, device_id: str) -> DeviceRecord | None:
    async with db.read() as conn:
        query = select(devices).where(devices.c.device_id == device_id)
        row = (await conn.execute(query)).first()
    return None if row is None else device_from_row(row)


async def list_devices(db: Database, store_id: str | None = None) -> list[DeviceRecord]:
    """Every device (or the devices of `store_id`), ordered by device_id."""
    query = select(devices).order_by(devices.c.device_id)
    if store_id is not None:
        query = query.where(devices.c.store_id == store_id)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [device_from_row(row) for row in rows]


async def set_presence(
    db: Database, device_id: str, online: bool, ts_ms: int, *, app_version: str | None = None
) -> bool:
    """Record the device going online/offline at `ts_ms` (the presence message's own time).

    An update older than the stored one is ignored (retained and Last-Will messages arrive out
    of order); one with the same time is applied. Returns False when ignored or the device is
    unknown. `app_version`, when given, replaces the stored one.
    """
    async with db.write() as conn:
        return (await conn.execute(_presence_stmt(device_id, online, ts_ms, app_version))
                ).rowcount == 1


def _presence_stmt(device_id: str, online: bool, ts_ms: int, app_version: str | None) -> Any:
    values: dict[str, Any] = {"online": online, "presence_ms": ts_ms}
    if app_version is not None:
        values["app_version"] = app_version
    return _unless_older(device_id, devices.c.presence_ms, ts_ms, values)


async def touch(
    db: Database, device_id: str, ts_ms: int, health: dict[str, Any] | None = None
) -> bool:
    """The device was heard from at `ts_ms`; `health` (a Health payload) replaces the last one.

    `health=None` keeps the stored health. A `health` with an `app_version` string also updates
    the device's app_version. A touch older than `last_seen_ms` is ignored (returns False, as
    for an unknown device).
    """
    async with db.write() as conn:
        return (await conn.execute(_touch_stmt(device_id, ts_ms, health))).rowcount == 1


def _touch_stmt(device_id: str, ts_ms: int, health: dict[str, Any] | None) -> Any:
    values: dict[str, Any] = {"last_seen_ms": ts_ms}
    if health is not None:
        values["health"] = health
        if isinstance(health.get("app_version"), str):
            values["app_version"] = health["app_version"]
    return _unless_older(device_id, devices.c.last_seen_ms, ts_ms, values)


def _unless_older(device_id: str, stamp: Any, ts_ms: int, values: dict[str, Any]) -> Any:
    """UPDATE applying `values` unless the device's `stamp` column is newer than `ts_ms`."""
    return (
        update(devices)
        .where(devices.c.device_id == device_id)
        .where(or_(stamp.is_(None), stamp <= ts_ms))
        .values(values)
    )


async def touch_many(db: Database, last_seen: Mapping[str, int]) -> None:
    """Advance `last_seen_ms` of many devices in one transaction (never moves it back).

    Meant for the ingest path: one call per stored batch of events. Unknown ids are ignored.
    """
    if not last_seen:
        return
    ts = bindparam("seen_ms", type_=BigInteger)
    stmt = (
        update(devices)
        .where(devices.c.device_id == bindparam("seen_id"))
        .where(or_(devices.c.last_seen_ms.is_(None), devices.c.last_seen_ms < ts))
        .values(last_seen_ms=ts)
    )
    params = [{"seen_id": d, "seen_ms": t} for d, t in sorted(last_seen.items())]
    async with db.write() as conn:
        await conn.execute(stmt, params)


async def set_reported_state(
    db: Database, device_id: str, state: dict[str, Any], config_version: int | None
) -> bool:
    """Store the device's reported state (a ReportedState payload) and config version."""
    if not isinstance(state, dict):
        raise ValueError(f"device {device_id!r}: reported state must be a dict")
    if config_version is not None and (type(config_version) is not int or config_version < 0):
        raise ValueError(f"device {device_id!r}: config_version must be an int >= 0 or None")
    async with db.write() as conn:
        return (await conn.execute(_state_stmt(device_id, state, config_version))).rowcount == 1


def _state_stmt(device_id: str, state: dict[str, Any], config_version: int | None) -> Any:
    return (
        update(devices)
        .where(devices.c.device_id == device_id)
        .values(reported_state=state, config_version=config_version)
    )


@dataclass
class DeviceReport:
    """What one device reported since the last registry write (latest of each kind)."""

    presence: tuple[bool, int] | None = None  # (online, ts_ms)
    seen: tuple[int, dict[str, Any] | None] | None = None  # (ts_ms, health or None)
    state: tuple[dict[str, Any], int | None] | None = None  # (state, config_version)


async def apply_device_reports(db: Database, reports: Mapping[str, DeviceReport]) -> None:
    """Write many devices' presence, heartbeat and state in one transaction.

    Same rules as `set_presence`, `touch` and `set_reported_state`; unknown ids are ignored.
    Each kind is one executemany, so thousands of terminals reconnecting cost a few statements.
    """
    presence, seen_health, seen_bare, states = [], [], [], []
    for device_id in sorted(reports):
        r = reports[device_id]
        if r.presence is not None:
            presence.append({"r_id": device_id, "r_online": r.presence[0],
                             "r_ts": r.presence[1]})
        if r.seen is not None:
            ts, health = r.seen
            if health is None:
                seen_bare.append({"r_id": device_id, "r_ts": ts})
            else:
                version = health.get("app_version")
                seen_health.append({"r_id": device_id, "r_ts": ts, "r_health": health,
                                    "r_version": version if isinstance(version, str) else None})
        if r.state is not None:
            states.append({"r_id": device_id, "r_state": r.state[0], "r_config": r.state[1]})
    async with db.write() as conn:
        for stmt, params in ((_BULK_PRESENCE, presence), (_BULK_SEEN_HEALTH, seen_health),
                             (_BULK_SEEN, seen_bare), (_BULK_STATE, states)):
            if params:
                await conn.execute(stmt, params)


def _bulk_unless_older(stamp: Any, values: dict[str, Any]) -> Any:
    ts = bindparam("r_ts", type_=BigInteger)
    return (
        update(devices)
        .where(devices.c.device_id == bindparam("r_id"))
        .where(or_(stamp.is_(None), stamp <= ts))
        .values({stamp.name: ts, **values})
    )


_BULK_PRESENCE = _bulk_unless_older(devices.c.presence_ms, {"online": bindparam("r_online")})
_BULK_SEEN = _bulk_unless_older(devices.c.last_seen_ms, {})
_BULK_SEEN_HEALTH = _bulk_unless_older(devices.c.last_seen_ms, {
    "health": bindparam("r_health", type_=devices.c.health.type),
    "app_version": func.coalesce(bindparam("r_version", type_=devices.c.app_version.type),
                                 devices.c.app_version),
})
_BULK_STATE = (
    update(devices)
    .where(devices.c.device_id == bindparam("r_id"))
    .values(reported_state=bindparam("r_state", type_=devices.c.reported_state.type),
            config_version=bindparam("r_config", type_=devices.c.config_version.type))
)


async def delete_device(db: Database, device_id: str) -> bool:
    """Remove the device row (its events and commands stay). False when it did not exist."""
    async with db.write() as conn:
        stmt = delete(devices).where(devices.c.device_id == device_id)
        return (await conn.execute(stmt)).rowcount == 1
