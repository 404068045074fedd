"""The MQTT wire contract shared by terminals and the controller.

`topics` is the topic scheme, `messages` the versioned payload models, `codec` the strict
decoder every receiver goes through. Nothing here does I/O.
"""

from kiosk.wire.codec import RejectCounter, WireError, decode, encode
from kiosk.wire.messages import (
    PROTOCOL_VERSION,
    Command,
    CommandAck,
    DesiredConfig,
    Event,
    EventAck,
    EventBatch,
    Health,
    Presence,
    ReportedState,
    Request,
    Response,
)
from kiosk.wire.topics import Channel, TopicError, device_topic, parse_topic

__all__ = [
    "PROTOCOL_VERSION",
    "Channel",
    "Command",
    "CommandAck",
    "DesiredConfig",
    "Event",
    "EventAck",
    "EventBatch",
    "Health",
    "Presence",
    "RejectCounter",
    "ReportedState",
    "Request",
    "Response",
    "TopicError",
    "WireError",
    "decode",
    "device_topic",
    "encode",
    "parse_topic",
]
