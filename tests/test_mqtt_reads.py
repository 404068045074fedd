"""Buffered reads for the controller's paho client, on a real socket pair."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from broker.mqtt_reads import buffer_reads


def publish_packet(topic: str, payload: bytes) -> bytes:
    """An MQTT 5 PUBLISH, QoS 0, no properties."""
    body = len(topic).to_bytes(2, "big") + topic.encode() + b"\x00" + payload
    length, n = b"", len(body)
    while True:
        n, digit = divmod(n, 128)
        length += bytes([digit | (128 if n else 0)])
        if not n:
            return b"\x30" + length + body


@pytest.fixture
def wired() -> Iterator[tuple[mqtt.Client, socket.socket, list[tuple[str, bytes]]]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    got: list[tuple[str, bytes]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    client._sock = ours  # as after CONNECT: paho reads packets from this socket
    yield client, broker, got
    ours.close()
    broker.close()


def test_one_readable_event_handles_every_packet_that_arrived(wired) -> None:
    client, broker, got = wired
    packets = [publish_packet(f"kiosk/v1/t-{i}/up/events", b"x" * (i * 700)) for i in range(6)]
    broker.sendall(b"".join(packets))
    client.loop_read()
    assert len(got) == 1  # paho alone: one packet per readable event
    assert buffer_reads(client)
    client.loop_read()
    assert got == [(f"kiosk/v1/t-{i}/up/events", b"x" * (i * 700)) for i in range(6)]
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS  # nothing left, nothing invented
    assert len(got) == 6


def test_a_packet_split_across_reads_is_completed_by_the_next_one(wired) -> None:
    client, broker, got = wired
    assert buffer_reads(client)
    first, second = (publish_packet("kiosk/v1/t-1/up/events", bytes([n]) * 5000)
                     for n in (1, 2))
    broker.sendall(first + second[:3])  # the second stops inside its length bytes
    client.loop_read()
    assert got == [("kiosk/v1/t-1/up/events", b"\x01" * 5000)]
    broker.sendall(second[3:])
    client.loop_read()
    assert got[1:] == [("kiosk/v1/t-1/up/events", b"\x02" * 5000)]


def test_a_closed_connection_is_reported_as_lost(wired) -> None:
    client, broker, got = wired
    assert buffer_reads(client)
    broker.sendall(publish_packet("kiosk/v1/t-1/up/events", b"last"))
    broker.close()
    client.loop_read()
    assert got == [("kiosk/v1/t-1/up/events", b"last")]
    # the socket stays readable at end of stream: the next readable event reports it
    assert client.loop_read() == mqtt.MQTT_ERR_CONN_LOST
