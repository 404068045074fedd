"""Records refuse bad stores, devices and commands with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from storage_fixtures import make_device, make_store

from broker.storage import CommandRecord, DeviceRecord, StoreRecord
from kiosk.wire.messages import Command


def test_good_store_and_device_are_accepted() -> None:
    store = make_store(tags=["family", "office-lunch"])
    assert store.tags == ("family", "office-lunch")  # lists become tuples
    device = make_device(screen_size_in=12)
    assert device.screen_size_in == 12.0 and isinstance(device.screen_size_in, float)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Asia/Shang_hai"}, "timezone must be an IANA zone name"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"footfall_tier": 0}, "footfall_tier must be an integer 1..5"),
        ({"footfall_tier": 6}, "footfall_tier"),
        ({"footfall_tier": True}, "footfall_tier"),
        ({"footfall_tier": 3.0}, "footfall_tier"),
        ({"format": "megastore"}, "format must be one of"),
        ({"name": "   "}, "name must be a non-empty string"),
        ({"city": ""}, "city"),
        ({"store_id": "bad id!"}, "store_id must be"),
        ({"tags": "family"}, "tags must be a list of strings"),
        ({"tags": ["a", "a"]}, "tags repeat a value"),
        ({"tags": ["ok", ""]}, "each tag"),
        ({"created_ms": -1}, "created_ms must be epoch milliseconds"),
    ],
)
def test_bad_store_is_refused_with_clear_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_store(**changes)


def test_store_error_names_the_store() -> None:
    with pytest.raises(ValueError, match=r"^store 'sh-1': footfall_tier"):
        make_store("sh-1", footfall_tier=9)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"device_id": "Term-1"}, "device_id must be 3-63 chars"),
        ({"device_id": "ab"}, "device_id"),
        ({"device_id": "admin"}, "not a reserved name"),
        ({"orientation": "upside-down"}, "orientation must be one of"),
        ({"resolution": "1280*800"}, "resolution must look like '1280x800'"),
        ({"resolution": "big"}, "resolution"),
        ({"screen_size_in": 0}, "screen_size_in must be a number of inches"),
        ({"screen_size_in": "12"}, "screen_size_in"),
        ({"store_id": ""}, "store_id"),
        ({"config_version": -1}, "config_version"),
        ({"health": ["not", "a", "dict"]}, "health must be a JSON object"),
        ({"online": "yes"}, "online must be a bool"),
    ],
)
def test_bad_device_is_refused_with_clear_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_device(**changes)


def _command(**changes: object) -> CommandRecord:
    values: dict[str, object] = {
        "cmd_id": "cmd-00000001",
        "device_id": "term-0001",
        "name": "reboot",
        "issued_ms": 1_000,
        "expires_ms": 61_000,
    }
    values.update(changes)
    return CommandRecord(**values)  # type: ignore[arg-type]


def test_new_command_is_pending_and_updated_at_issue() -> None:
    command = _command()
    assert command.status == "pending" and command.updated_ms == 1_000 and not command.final


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expires_ms": 1_000}, "expires_ms .* must be after issued_ms"),
        ({"cmd_id": "short"}, "cmd_id must be 8-64 chars"),
        ({"status": "finished"}, "status must be one of"),
        ({"name": "Reboot Now"}, "name must match"),
        ({"device_id": "root"}, "device_id"),
        ({"args": None}, "args must be a JSON object"),
    ],
)
def test_bad_command_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _command(**changes)


def test_command_round_trips_through_the_wire_model() -> None:
    wire = Command(
        cmd_id="cmd-00000002", name="set-volume", args={"level": 3}, issued_ms=5, expires_ms=9
    )
    record = CommandRecord.from_wire("term-0001", wire)
    assert record.status == "pending" and record.args == {"level": 3}
    assert record.to_wire() == wire


def test_records_are_immutable() -> None:
    device = make_device()
    with pytest.raises(AttributeError):
        device.online = True  # type: ignore[misc]
    assert isinstance(make_store(), StoreRecord) and isinstance(device, DeviceRecord)
