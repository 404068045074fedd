"""paho's Properties with shared tables still encode, decode and stay per-object."""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kiosk.wire import paho_speed


def test_properties_round_trip_and_do_not_leak_between_objects() -> None:
    assert paho_speed.install() and paho_speed.install()  # idempotent
    a, b = Properties(PacketTypes.PUBLISH), Properties(PacketTypes.PUBLISH)
    a.ResponseTopic = "kiosk/v1/t-1/down/response"
    a.CorrelationData = b"\x01\x02"
    a.UserProperty = ("k", "v")
    assert b.isEmpty() and not hasattr(b, "CorrelationData")
    decoded = Properties(PacketTypes.PUBLISH)
    decoded.unpack(a.pack())
    assert decoded.ResponseTopic == "kiosk/v1/t-1/down/response"
    assert decoded.CorrelationData == b"\x01\x02" and decoded.UserProperty == [("k", "v")]
    ack = Properties(PacketTypes.PUBACK)
    try:
        ack.ResponseTopic = "x"  # still refused for a packet type that cannot carry it
    except Exception as exc:
        assert "PUBACK" in str(exc) or "not" in str(exc).lower()
    else:
        raise AssertionError("a PUBACK accepted a ResponseTopic")
