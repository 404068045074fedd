"""Strict decoding of MQTT payloads into contract models (pure, no I/O).

Receivers call `decode`; anything that is not a well-formed payload of the expected model and
version raises `WireError` with a short reason. `RejectCounter` tallies reasons for metrics.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from kiosk.wire.messages import PROTOCOL_VERSION

MAX_PAYLOAD_BYTES = 512 * 1024

M = TypeVar("M", bound=BaseModel)


class WireError(ValueError):
    """A payload rejected by the contract; `reason` is a short machine-friendly tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def _version_of(payload: bytes) -> object:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc.get("v") if isinstance(doc, dict) else None


def decode(model: type[M], payload: bytes | bytearray | str) -> M:
    if isinstance(payload, str):
        payload = payload.encode()
    _check_size(payload)
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise _wire_error(exc, payload) from None


def _check_size(payload: bytes | bytearray) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    if not payload:
        raise WireError("empty")


def _wire_error(exc: ValidationError, payload: bytes | bytearray) -> WireError:
    errors = exc.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return WireError("malformed_json", errors[0]["msg"])
    if any(tuple(e["loc"][:1]) == ("v",) for e in errors):
        version = _version_of(bytes(payload))
        if version is not None and version != PROTOCOL_VERSION:
            return WireError("unsupported_version", f"v={version!r}")
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "<root>"
    return WireError("invalid", f"{where}: {first['msg']}"[:300])


class RejectCounter:
    """Counts rejected payloads by (channel, reason); cheap enough for the hot path."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, channel: str, reason: str) -> None:
        self._counts[(channel, reason)] += 1

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        return {f"{ch}:{reason}": n for (ch, reason), n in sorted(self._counts.items())}
