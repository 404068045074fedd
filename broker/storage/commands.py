"""Commands sent to devices and their acknowledgements.

A command's status only moves forward: pending -> received -> a final status. The device
reports 'received' and then 'done' | 'failed' | 'rejected' | 'expired'; the controller marks
'timed_out' when `expires_ms` passes without a final ack. A final status is never overwritten,
a duplicate or late ack changes nothing, and only the device the command was sent to can ack it.
Each transition is one conditional UPDATE, so concurrent acks and expiry cannot race.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError
from broker.storage.records import OPEN_COMMAND_STATUSES, CommandRecord
from broker.storage.schema import commands, devices
from kiosk.wire.messages import CommandAck

# Statuses a device may report, and the statuses each may replace.
ACK_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("pending",),
    "done": ("pending", "received"),
    "failed": ("pending", "received"),
    "rejected": ("pending", "received"),
    "expired": ("pending", "received"),
}
TIMED_OUT_ERROR = "no final acknowledgement before the command expired"


def command_from_row(row: Any) -> CommandRecord:
    return CommandRecord(**dict(row._mapping))


async def create_command(db: Database, command: CommandRecord) -> None:
    """Store a new command for its device.

    Raises `NotFoundError` for an unknown device and `AlreadyExistsError` for a used cmd_id.
    """
    device_known = exists().where(devices.c.device_id == command.device_id)
    cmd_known = exists().where(commands.c.cmd_id == command.cmd_id)
    duplicate = AlreadyExistsError(f"command {command.cmd_id!r} exists already")
    try:
        async with db.write() as conn:
            if not (await conn.execute(select(device_known))).scalar():
                raise NotFoundError(
                    f"command {command.cmd_id!r}: device {command.device_id!r} does not exist"
                )
            if (await conn.execute(select(cmd_known))).scalar():
                raise duplicate
            await conn.execute(insert(commands).values(asdict(command)))
    except IntegrityError as exc:  # a concurrent writer (PostgreSQL) used the id first
        raise duplicate from exc


async def get_command(db: Database, cmd_id: str) -> CommandRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(commands).where(commands.c.cmd_id == cmd_id))).first()
    return None if row is None else command_from_row(row)


async def list_commands(db: Database, device_id: str, limit: int = 100) -> list[CommandRecord]:
    """The device's most recent commands, newest first."""
    query = (
        select(commands)
        .where(commands.c.device_id == device_id)
        .order_by(commands.c.issued_ms.desc(), commands.c.cmd_id.desc())
        .limit(limit)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [command_from_row(row) for row in rows]


async def record_command_ack(
    db: Database,
    device_id: str,
    cmd_id: str,
    status: str,
    result: dict[str, Any] | None,
    error: str | None,
    ts_ms: int,
) -> bool:
    """Apply a device's ack; True when it moved the command forward.

    False (nothing changed) for an unknown command, a command of another device, a duplicate,
    or a step backwards (e.g. 'received' after 'done', anything after a final status).
    `result`/`error` are stored when given. Raises ValueError for a status a device cannot
    report ('pending', 'timed_out', unknown words).
    """
    previous = ACK_TRANSITIONS.get(status)
    if previous is None:
        raise ValueError(
            f"command {cmd_id!r}: a device can ack with {sorted(ACK_TRANSITIONS)}, not {status!r}"
        )
    values: dict[str, Any] = {"status": status, "updated_ms": ts_ms}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    stmt = (
        update(commands)
        .where(
            commands.c.cmd_id == cmd_id,
            commands.c.device_id == device_id,
            commands.c.status.in_(previous),
        )
        .values(values)
    )
    async with db.write() as conn:
        return (await conn.execute(stmt)).rowcount == 1


def _ack_update(device_id: str, ack: CommandAck) -> Any:
    previous = ACK_TRANSITIONS[ack.status]
    values: dict[str, Any] = {"status": ack.status, "updated_ms": ack.ts_ms}
    if ack.result is not None:
        values["result"] = dict(ack.result)
    if ack.error is not None:
        values["error"] = ack.error
    return update(commands).where(commands.c.cmd_id == ack.cmd_id,
                                  commands.c.device_id == device_id,
                                  commands.c.status.in_(previous)).values(values)


async def apply_command_acks(db: Database, acks: list[tuple[str, CommandAck]]) -> list[bool]:
    """Many devices' acks in one transaction (each as `record_command_ack` would apply it);
    a busy controller pays one write per batch instead of one per ack."""
    async with db.write() as conn:
        return [(await conn.execute(_ack_update(d, a))).rowcount == 1 for d, a in acks]


async def apply_command_ack(db: Database, device_id: str, ack: CommandAck) -> bool:
    """`record_command_ack` for a validated wire `CommandAck` from `device_id`."""
    result = None if ack.result is None else dict(ack.result)
    return await record_command_ack(
        db, device_id, ack.cmd_id, ack.status, result, ack.error, ack.ts_ms
    )


async def expire_commands(db: Database, now_ms: int) -> list[str]:
    """Mark open (pending/received) commands with `expires_ms <= now_ms` as 'timed_out'.

    Returns the ids it marked, sorted.
    """
    open_and_due = (
        commands.c.status.in_(sorted(OPEN_COMMAND_STATUSES)),
        commands.c.expires_ms <= now_ms,
    )
    values = {"status": "timed_out", "updated_ms": now_ms, "error": TIMED_OUT_ERROR}
    async with db.write() as conn:
        if db.engine.dialect.update_returning:
            stmt = update(commands).where(*open_and_due).values(values)
            ids = list((await conn.execute(stmt.returning(commands.c.cmd_id))).scalars())
        else:  # SQLite < 3.35: the write transaction (BEGIN IMMEDIATE) makes this atomic
            ids = list(
                (await conn.execute(select(commands.c.cmd_id).where(*open_and_due))).scalars()
            )
            if ids:
                stmt = update(commands).where(commands.c.cmd_id.in_(ids), *open_and_due)
                await conn.execute(stmt.values(values))
    return sorted(ids)
