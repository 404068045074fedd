"""Versioned payload models for every topic of the contract (pydantic, no I/O).

Every payload carries `v` (the protocol version). Times are UTC epoch milliseconds (`*_ms`),
money is integer fen. Models forbid unknown fields so that a typo is an error, not silent loss.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    field_validator,
    model_validator,
)

from kiosk.wire.topics import DEVICE_ID_PATTERN

PROTOCOL_VERSION = 1
MAX_EVENTS_PER_BATCH = 1000

DeviceId = Annotated[str, Field(pattern=rf"^{DEVICE_ID_PATTERN}$")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
# Strict: a JSON integer, not "12" or 12.0 or true (pydantic's lax mode takes all three, and
# "1_0" as 10). The controller's ingest decoder (batch_decoder.py) has the same rules.
EpochMs = Annotated[int, Field(strict=True, ge=0, le=32_503_680_000_000)]  # up to year 3000
Seq = Annotated[int, Field(strict=True, ge=1, le=2**62)]
JsonObject = dict[str, JsonValue]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = PROTOCOL_VERSION


class Event(BaseModel):
    """One engagement event; `seq` is the device's own sequence number (never reused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: Seq
    ts_ms: EpochMs
    type: Name
    data: JsonObject = Field(default_factory=dict)


class EventBatch(WireModel):
    """Events from a terminal's outbox. `more`: the terminal sends its next batch at once, so
    the controller may hold this batch's ack briefly and cover both with one."""

    device_id: DeviceId
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]
    more: StrictBool = False

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]

    @model_validator(mode="after")
    def _unique_seqs(self) -> EventBatch:
        seqs = [e.seq for e in self.events]
        if len(set(seqs)) != len(seqs):
            raise ValueError("duplicate seq within one batch")
        return self


class EventAck(WireModel):
    """Seqs the controller has durably stored, as inclusive [first, last] ranges."""

    ranges: Annotated[list[tuple[Seq, Seq]], Field(min_length=1, max_length=10_000)]

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for lo, hi in ranges:
            if lo > hi:
                raise ValueError(f"range [{lo}, {hi}] is reversed")
        return ranges

    def covers(self, seq: int) -> bool:
        return any(lo <= seq <= hi for lo, hi in self.ranges)


class Presence(WireModel):
    online: bool
    ts_ms: EpochMs
    reason: Literal["connected", "shutdown", "lost"] = "connected"
    app_version: str | None = Field(default=None, max_length=64)


class Health(WireModel):
    """Heartbeat figures; fields the hardware cannot report are null, never invented."""

    ts_ms: EpochMs
    uptime_s: Annotated[float, Field(ge=0)]
    app_version: str = Field(max_length=64)
    disk_free_mb: Annotated[float, Field(ge=0)] | None = None
    mem_available_mb: Annotated[float, Field(ge=0)] | None = None
    mem_used_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    cpu_load_1m: Annotated[float, Field(ge=0)] | None = None
    cpu_temp_c: Annotated[float, Field(ge=-50, le=150)] | None = None
    outbox_pending: Annotated[int, Field(ge=0)] = 0


class ReportedState(WireModel):
    ts_ms: EpochMs
    config_version: Annotated[int, Field(ge=0)] | None = None
    app_version: str = Field(max_length=64)
    screen: str | None = Field(default=None, max_length=32)
    extra: JsonObject = Field(default_factory=dict)


class PlaylistPointer(BaseModel):
    """Where the terminal fetches its signed manifest (HTTP), and the hash of those bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_url: Annotated[str, Field(pattern=r"^https?://[^\s]{1,2000}$")]
    manifest_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # the playlist's own digest
    # The signed manifest's JSON itself when it is small: the terminal then needs no request
    # for it (it still checks the hash and the signature).
    manifest: Annotated[str, Field(max_length=256 * 1024)] | None = None


class DesiredConfig(WireModel):
    version: Annotated[int, Field(ge=0)]
    settings: JsonObject = Field(default_factory=dict)
    playlist: PlaylistPointer | None = None


class Command(WireModel):
    cmd_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    name: Name
    args: JsonObject = Field(default_factory=dict)
    issued_ms: EpochMs
    expires_ms: EpochMs

    @model_validator(mode="after")
    def _expiry_after_issue(self) -> Command:
        if self.expires_ms <= self.issued_ms:
            raise ValueError("expires_ms must be after issued_ms")
        return self

    def expired(self, now_ms: int) -> bool:
        return now_ms >= self.expires_ms


CommandStatus = Literal["received", "done", "failed", "rejected", "expired"]
FINAL_COMMAND_STATUSES: frozenset[str] = frozenset({"done", "failed", "rejected", "expired"})


class CommandAck(WireModel):
    cmd_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    status: CommandStatus
    ts_ms: EpochMs
    result: JsonObject | None = None
    error: str | None = Field(default=None, max_length=1000)


class Request(WireModel):
    """MQTT 5 request; the reply goes to the message's response topic with its correlation data."""

    method: Name
    idempotency_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{8,128}$")] | None = None
    params: JsonObject = Field(default_factory=dict)


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Name
    message: str = Field(max_length=1000)


class Response(WireModel):
    ok: bool
    result: JsonObject | None = None
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _error_iff_not_ok(self) -> Response:
        if self.ok == (self.error is not None):
            raise ValueError("a response carries an error exactly when ok is false")
        return self
