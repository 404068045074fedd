"""Commands: status only moves forward, only the addressed device can ack, expiry is reported."""

from __future__ import annotations

import asyncio

import pytest
from storage_fixtures import db as db  # the fixture
from storage_fixtures import make_device, seed_device

from broker.storage import (
    AlreadyExistsError,
    CommandRecord,
    Database,
    NotFoundError,
    add_device,
    apply_command_ack,
    create_command,
    expire_commands,
    get_command,
    list_commands,
    record_command_ack,
)
from kiosk.wire.messages import CommandAck


def command(
    cmd_id: str = "cmd-00000001", device_id: str = "term-0001", **changes: object
) -> CommandRecord:
    values: dict[str, object] = {
        "cmd_id": cmd_id,
        "device_id": device_id,
        "name": "reboot",
        "args": {"delay_s": 5},
        "issued_ms": 10_000,
        "expires_ms": 70_000,
    }
    values.update(changes)
    return CommandRecord(**values)  # type: ignore[arg-type]


async def status_of(db: Database, cmd_id: str = "cmd-00000001") -> str:
    record = await get_command(db, cmd_id)
    assert record is not None
    return record.status


async def test_command_round_trips(db: Database) -> None:
    await seed_device(db)
    await create_command(db, command())
    assert await get_command(db, "cmd-00000001") == command()
    assert await get_command(db, "cmd-missing1") is None


async def test_command_for_unknown_device_or_reused_id_is_refused(db: Database) -> None:
    await seed_device(db)
    with pytest.raises(NotFoundError, match="device 'term-9999' does not exist"):
        await create_command(db, command(device_id="term-9999"))
    await create_command(db, command())
    with pytest.raises(AlreadyExistsError, match="command 'cmd-00000001' exists already"):
        await create_command(db, command(name="factory-reset"))
    assert (await get_command(db, "cmd-00000001")) == command()


async def test_list_commands_newest_first(db: Database) -> None:
    await seed_device(db)
    await add_device(db, make_device("term-0002"))
    for i, issued in enumerate([3_000, 1_000, 2_000]):
        await create_command(db, command(f"cmd-0000000{i}", issued_ms=issued))
    await create_command(db, command("cmd-other-1", device_id="term-0002"))
    listed = await list_commands(db, "term-0001")
    assert [c.issued_ms for c in listed] == [3_000, 2_000, 1_000]
    assert len(await list_commands(db, "term-0001", limit=2)) == 2


async def test_status_moves_forward_and_final_is_never_overwritten(db: Database) -> None:
    await seed_device(db)
    await create_command(db, command())
    ack = record_command_ack
    assert await ack(db, "term-0001", "cmd-00000001", "received", None, None, 11_000)
    assert not await ack(db, "term-0001", "cmd-00000001", "received", None, None, 11_500)  # dup
    assert await ack(db, "term-0001", "cmd-00000001", "done", {"rebooted": True}, None, 12_000)
    # duplicates and late or contradicting acks change nothing
    assert not await ack(db, "term-0001", "cmd-00000001", "done", {"rebooted": 2}, None, 13_000)
    assert not await ack(db, "term-0001", "cmd-00000001", "received", None, None, 14_000)
    assert not await ack(db, "term-0001", "cmd-00000001", "failed", None, "disk", 15_000)
    stored = await get_command(db, "cmd-00000001")
    assert stored is not None and stored.final
    assert (stored.status, stored.result, stored.error, stored.updated_ms) == (
        "done",
        {"rebooted": True},
        None,
        12_000,
    )


@pytest.mark.parametrize("final", ["done", "failed", "rejected", "expired"])
async def test_a_final_ack_may_skip_received(db: Database, final: str) -> None:
    await seed_device(db)
    await create_command(db, command())
    assert await record_command_ack(db, "term-0001", "cmd-00000001", final, None, "why", 11_000)
    assert await status_of(db) == final


async def test_ack_from_another_device_is_refused(db: Database) -> None:
    await seed_device(db)
    await add_device(db, make_device("term-0002"))
    await create_command(db, command())
    assert not await record_command_ack(db, "term-0002", "cmd-00000001", "done", {}, None, 1)
    assert await status_of(db) == "pending"
    assert not await record_command_ack(db, "term-0001", "cmd-unknown1", "done", {}, None, 1)


async def test_statuses_a_device_cannot_report_are_errors(db: Database) -> None:
    await seed_device(db)
    await create_command(db, command())
    for status in ("pending", "timed_out", "finished"):
        with pytest.raises(ValueError, match="a device can ack with"):
            await record_command_ack(db, "term-0001", "cmd-00000001", status, None, None, 1)
    assert await status_of(db) == "pending"


async def test_wire_acks_are_applied(db: Database) -> None:
    await seed_device(db)
    await create_command(db, command())
    ack = CommandAck(cmd_id="cmd-00000001", status="rejected", ts_ms=11_000, error="busy")
    assert await apply_command_ack(db, "term-0001", ack)
    assert not await apply_command_ack(db, "term-0001", ack)
    stored = await get_command(db, "cmd-00000001")
    assert stored is not None and (stored.status, stored.error) == ("rejected", "busy")


async def test_expired_commands_are_reported_once(db: Database) -> None:
    await seed_device(db)
    await create_command(db, command("cmd-pending1", expires_ms=50_000))
    await create_command(db, command("cmd-receivd1", expires_ms=50_000))
    await create_command(db, command("cmd-finished", expires_ms=50_000))
    await create_command(db, command("cmd-later-01", expires_ms=90_000))
    await record_command_ack(db, "term-0001", "cmd-receivd1", "received", None, None, 11_000)
    await record_command_ack(db, "term-0001", "cmd-finished", "done", {}, None, 12_000)
    assert await expire_commands(db, 49_999) == []
    assert await expire_commands(db, 50_000) == ["cmd-pending1", "cmd-receivd1"]
    assert await expire_commands(db, 60_000) == []
    timed_out = await get_command(db, "cmd-pending1")
    assert timed_out is not None
    assert (timed_out.status, timed_out.updated_ms) == ("timed_out", 50_000)
    assert timed_out.error and "expired" in timed_out.error
    assert await status_of(db, "cmd-finished") == "done"
    assert await status_of(db, "cmd-later-01") == "pending"
    # a late final ack does not resurrect a timed-out command
    assert not await record_command_ack(db, "term-0001", "cmd-pending1", "done", {}, None, 1)
    assert await expire_commands(db, 90_000) == ["cmd-later-01"]


async def test_racing_acks_and_expiry_leave_one_final_status(db: Database) -> None:
    await seed_device(db)
    await create_command(db, command(expires_ms=20_000))
    results = await asyncio.gather(
        record_command_ack(db, "term-0001", "cmd-00000001", "done", {}, None, 15_000),
        record_command_ack(db, "term-0001", "cmd-00000001", "failed", None, "x", 15_000),
        expire_commands(db, 30_000),
    )
    winners = sum(1 for r in results if r is True or r == ["cmd-00000001"])
    assert winners == 1
    assert await status_of(db) in {"done", "failed", "timed_out"}
