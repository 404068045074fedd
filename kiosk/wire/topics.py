"""Topic scheme `kiosk/v1/{device_id}/{up|down}/{name}` (pure, no I/O).

`up/*` is written by the terminal and read by the controller, `down/*` the reverse. The broker's
ACL (see `broker.mosquitto.acl`) enforces exactly this split per device.
"""

from __future__ import annotations

import re
from enum import StrEnum

ROOT = "kiosk/v1"
DEVICE_ID_PATTERN = r"[a-z0-9][a-z0-9-]{2,62}"
_DEVICE_ID_RE = re.compile(rf"^{DEVICE_ID_PATTERN}$")
# Names that would collide with broker users or read as something else in logs.
RESERVED_IDS = frozenset({"controller", "admin", "root", "broker", "all", "any"})


class TopicError(ValueError):
    """A topic that is not part of the contract."""


class Channel(StrEnum):
    EVENTS = "up/events"  # batched engagement events, QoS 1
    STATE = "up/state"  # reported state, retained
    PRESENCE = "up/presence"  # online/offline, retained, also the Last Will
    HEALTH = "up/health"  # heartbeat with health figures, QoS 0
    CMD_ACK = "up/cmd-ack"  # command acknowledgements and results, QoS 1
    REQUEST = "up/req"  # MQTT 5 request (response topic + correlation data), QoS 1
    CONFIG = "down/config"  # desired state, retained
    CMD = "down/cmd"  # commands with id and expiry, QoS 1
    EVENTS_ACK = "down/ack"  # the controller's acknowledgement of stored events, QoS 1
    RESPONSE = "down/res"  # responses to up/req, QoS 1

    @property
    def upstream(self) -> bool:
        return self.value.startswith("up/")


def is_valid_device_id(device_id: str) -> bool:
    return bool(_DEVICE_ID_RE.match(device_id)) and device_id not in RESERVED_IDS


def check_device_id(device_id: str) -> str:
    if not is_valid_device_id(device_id):
        raise TopicError(
            f"invalid device id {device_id!r}: 3-63 chars of a-z, 0-9 and '-', "
            "starting with a letter or digit, not a reserved name"
        )
    return device_id


def device_topic(device_id: str, channel: Channel) -> str:
    return f"{ROOT}/{check_device_id(device_id)}/{channel.value}"


def device_prefix(device_id: str) -> str:
    return f"{ROOT}/{check_device_id(device_id)}/"


def parse_topic(topic: str) -> tuple[str, Channel]:
    """Split a concrete topic into (device_id, channel); raise TopicError otherwise."""
    prefix = ROOT + "/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic outside {ROOT}: {topic[:80]!r}")
    rest = topic[len(prefix) :]
    device_id, sep, channel = rest.partition("/")
    if not sep:
        raise TopicError(f"topic without channel: {topic[:80]!r}")
    check_device_id(device_id)
    try:
        return device_id, Channel(channel)
    except ValueError:
        raise TopicError(f"unknown channel {channel[:40]!r}") from None


def wildcard(channel: Channel) -> str:
    """Filter matching `channel` on every device."""
    return f"{ROOT}/+/{channel.value}"


def shared(group: str, topic_filter: str) -> str:
    """MQTT 5 shared subscription: the broker spreads matching messages over the group."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", group):
        raise TopicError(f"invalid share group {group!r}")
    return f"$share/{group}/{topic_filter}"
