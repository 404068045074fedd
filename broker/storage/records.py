"""Validated, immutable records of the controller's stores, devices and commands.

Constructing a record checks it: a bad value raises `ValueError` naming the record and the field,
so nothing malformed reaches the database. Times are UTC epoch milliseconds.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn

from broker.storage.schema import COMMAND_STATUSES, ORIENTATIONS
from kiosk.wire.messages import Command
from kiosk.wire.topics import is_valid_device_id

STORE_FORMATS: frozenset[str] = frozenset(
    {"hypermarket", "supermarket", "convenience", "department_store", "specialty", "pharmacy"}
)
OPEN_COMMAND_STATUSES: frozenset[str] = frozenset({"pending", "received"})
FINAL_COMMAND_STATUSES: frozenset[str] = frozenset(COMMAND_STATUSES) - OPEN_COMMAND_STATUSES
MAX_EPOCH_MS = 32_503_680_000_000  # year 3000, as on the wire

_STORE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RESOLUTION_RE = re.compile(r"^[1-9][0-9]{2,4}x[1-9][0-9]{2,4}$")
_CMD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_CMD_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_timezone(name: str) -> bool:
    """True for an IANA zone name this machine's tz database knows ('Asia/Shanghai', 'UTC')."""
    return isinstance(name, str) and name in _timezones()


def _fail(what: str, message: str) -> NoReturn:
    raise ValueError(f"{what}: {message}")


def _check_ms(what: str, name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not 0 <= value <= MAX_EPOCH_MS:
        _fail(what, f"{name} must be epoch milliseconds (int 0..{MAX_EPOCH_MS}), got {value!r}")


def _check_text(what: str, name: str, value: Any, max_len: int, *, blank: bool = False) -> None:
    if not isinstance(value, str) or len(value) > max_len or (not blank and not value.strip()):
        need = "a string" if blank else "a non-empty string"
        _fail(what, f"{name} must be {need} of at most {max_len} chars, got {value!r}")


def _check_store_id(what: str, value: Any) -> None:
    if not isinstance(value, str) or not _STORE_ID_RE.match(value):
        _fail(what, f"store_id must be 1-64 chars of A-Z a-z 0-9 _ . -, got {value!r}")


def _check_device_id(what: str, value: Any) -> None:
    if not isinstance(value, str) or not is_valid_device_id(value):
        _fail(
            what,
            f"device_id must be 3-63 chars of a-z, 0-9 and '-', starting with a letter or "
            f"digit, not a reserved name; got {value!r}",
        )


def _check_object(what: str, name: str, value: Any, *, optional: bool = True) -> None:
    if (value is None and optional) or isinstance(value, dict):
        return
    _fail(what, f"{name} must be a JSON object (dict){' or None' if optional else ''}")


@dataclass(frozen=True, slots=True)
class StoreRecord:
    store_id: str
    name: str
    city: str
    district: str
    format: str
    footfall_tier: int
    timezone: str
    created_ms: int
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_store_id("store", self.store_id)
        what = f"store {self.store_id!r}"
        _check_text(what, "name", self.name, 200)
        _check_text(what, "city", self.city, 100)
        _check_text(what, "district", self.district, 100, blank=True)
        if self.format not in STORE_FORMATS:
            _fail(what, f"format must be one of {sorted(STORE_FORMATS)}, got {self.format!r}")
        if type(self.footfall_tier) is not int or not 1 <= self.footfall_tier <= 5:
            _fail(what, f"footfall_tier must be an integer 1..5, got {self.footfall_tier!r}")
        if not is_valid_timezone(self.timezone):
            _fail(
                what,
                f"timezone must be an IANA zone name like 'Asia/Shanghai', got {self.timezone!r}",
            )
        _check_ms(what, "created_ms", self.created_ms)
        if isinstance(self.tags, str) or not isinstance(self.tags, list | tuple):
            _fail(what, f"tags must be a list of strings, got {self.tags!r}")
        for tag in self.tags:
            _check_text(what, "each tag", tag, 64)
        if len(set(self.tags)) != len(self.tags):
            _fail(what, f"tags repeat a value: {list(self.tags)!r}")
        object.__setattr__(self, "tags", tuple(self.tags))


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A terminal. `health` and `reported_state` are the device's latest JSON reports."""

    device_id: str
    store_id: str
    screen_size_in: float
    orientation: str
    resolution: str
    created_ms: int
    online: bool = False
    last_seen_ms: int | None = None
    presence_ms: int | None = None
    app_version: str | None = None
    health: dict[str, Any] | None = None
    reported_state: dict[str, Any] | None = None
    config_version: int | None = None

    def __post_init__(self) -> None:
        _check_device_id("device", self.device_id)
        what = f"device {self.device_id!r}"
        _check_store_id(what, self.store_id)
        size = self.screen_size_in
        if isinstance(size, bool) or not isinstance(size, int | float) or not 5 <= size <= 100:
            _fail(what, f"screen_size_in must be a number of inches 5..100, got {size!r}")
        object.__setattr__(self, "screen_size_in", float(size))
        if self.orientation not in ORIENTATIONS:
            _fail(
                what, f"orientation must be one of {list(ORIENTATIONS)}, got {self.orientation!r}"
            )
        if not isinstance(self.resolution, str) or not _RESOLUTION_RE.match(self.resolution):
            _fail(what, f"resolution must look like '1280x800', got {self.resolution!r}")
        _check_ms(what, "created_ms", self.created_ms)
        if not isinstance(self.online, bool):
            _fail(what, f"online must be a bool, got {self.online!r}")
        _check_ms(what, "last_seen_ms", self.last_seen_ms, optional=True)
        _check_ms(what, "presence_ms", self.presence_ms, optional=True)
        if self.app_version is not None:
            _check_text(what, "app_version", self.app_version, 64)
        _check_object(what, "health", self.health)
        _check_object(what, "reported_state", self.reported_state)
        cv = self.config_version
        if cv is not None and (type(cv) is not int or cv < 0):
            _fail(what, f"config_version must be a non-negative integer or None, got {cv!r}")


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A command sent to one device and where it stands.

    status: 'pending' (stored, maybe sent) -> 'received' (device acked) -> a final status:
    'done' | 'failed' | 'rejected' | 'expired' (reported by the device) or 'timed_out' (the
    controller gave up at `expires_ms` without a final ack).
    """

    cmd_id: str
    device_id: str
    name: str
    issued_ms: int
    expires_ms: int
    args: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    result: dict[str, Any] | None = None
    error: str | None = None
    updated_ms: int | None = None  # None: set to issued_ms

    def __post_init__(self) -> None:
        if not isinstance(self.cmd_id, str) or not _CMD_ID_RE.match(self.cmd_id):
            _fail("command", f"cmd_id must be 8-64 chars of A-Z a-z 0-9 _ -, got {self.cmd_id!r}")
        what = f"command {self.cmd_id!r}"
        _check_device_id(what, self.device_id)
        if not isinstance(self.name, str) or not _CMD_NAME_RE.match(self.name):
            _fail(what, f"name must match {_CMD_NAME_RE.pattern}, got {self.name!r}")
        _check_object(what, "args", self.args, optional=False)
        _check_ms(what, "issued_ms", self.issued_ms)
        _check_ms(what, "expires_ms", self.expires_ms)
        if self.expires_ms <= self.issued_ms:
            _fail(
                what, f"expires_ms ({self.expires_ms}) must be after issued_ms ({self.issued_ms})"
            )
        if self.status not in COMMAND_STATUSES:
            _fail(what, f"status must be one of {list(COMMAND_STATUSES)}, got {self.status!r}")
        _check_object(what, "result", self.result)
        if self.error is not None and not isinstance(self.error, str):
            _fail(what, f"error must be a string or None, got {self.error!r}")
        if self.updated_ms is None:
            object.__setattr__(self, "updated_ms", self.issued_ms)
        _check_ms(what, "updated_ms", self.updated_ms)

    @property
    def final(self) -> bool:
        return self.status in FINAL_COMMAND_STATUSES

    @classmethod
    def from_wire(cls, device_id: str, command: Command) -> CommandRecord:
        """The pending record of a wire `Command` about to be sent to `device_id`."""
        return cls(
            cmd_id=command.cmd_id,
            device_id=device_id,
            name=command.name,
            args=dict(command.args),
            issued_ms=command.issued_ms,
            expires_ms=command.expires_ms,
        )

    def to_wire(self) -> Command:
        """The wire `Command` to publish on the device's `down/cmd` topic."""
        return Command(
            cmd_id=self.cmd_id,
            name=self.name,
            args=self.args,
            issued_ms=self.issued_ms,
            expires_ms=self.expires_ms,
        )
