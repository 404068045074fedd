"""A blocking MQTT 5 test client over paho-mqtt 2.x, for tests against the real Mosquitto.

Nothing here sleeps for a fixed time: every wait is a condition with a short timeout.
To show that a message was *not* delivered, tests send a marker through an allowed path
after the forbidden one was answered by the broker; Mosquitto delivers to one client in
order, so once the marker arrives anything forbidden would already have arrived too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from broker.mosquitto import Endpoint

WAIT_S = 5.0


class Peer:
    """One MQTT 5 connection with helpers that wait for the broker's answers."""

    def __init__(
        self,
        endpoint: Endpoint,
        username: str,
        password: str,
        *,
        client_id: str | None = None,
        tls_ca: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.username = username
        self.tls = tls_ca is not None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{username}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=tls_ca)
        self.messages: list[mqtt.MQTTMessage] = []
        self.connack: ReasonCode | None = None
        self.disconnect_reason: ReasonCode | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    # paho callbacks (network thread)
    def _notify(self, update: Callable[[], None]) -> None:
        with self._cond:
            update()
            self._cond.notify_all()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._notify(lambda: setattr(self, "connack", rc))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._notify(lambda: setattr(self, "disconnect_reason", rc))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        self._notify(lambda: self._subacks.__setitem__(mid, rcs))

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._notify(lambda: self._pubacks.__setitem__(mid, rc))

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._notify(lambda: self.messages.append(msg))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def _network(self) -> None:
        # Our own loop instead of loop_start(): it never reconnects, so a refused or
        # dropped connection stays down and close() returns at once.
        while not self._closing.is_set():
            if self.client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                break

    # blocking operations
    def connect(self, timeout: float = WAIT_S) -> ReasonCode:
        # Controller workers have their own listener (terminal listeners force client id =
        # username, which would make two workers of one user kick each other).
        port = (self.endpoint.tls_port if self.tls
                else self.endpoint.controller if self.username == "controller"
                else self.endpoint.port)
        assert port is not None
        self.client.connect(self.endpoint.host, port, keepalive=30)
        self._thread = threading.Thread(target=self._network, daemon=True)
        self._thread.start()
        if not self.wait_for(lambda: self.connack is not None, timeout):
            raise TimeoutError("no CONNACK")
        assert self.connack is not None
        return self.connack

    def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos)
        if not self.wait_for(lambda: mid in self._subacks):
            raise TimeoutError(f"no SUBACK for {topic}")
        return self._subacks[mid][0]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """QoS 1 publish; returns the PUBACK reason code."""
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        if not self.wait_for(lambda: mid in self._pubacks):
            raise TimeoutError(f"no PUBACK for {topic}")
        return self._pubacks[mid]

    def wait_payload(self, payload: bytes, timeout: float = WAIT_S) -> mqtt.MQTTMessage:
        def seen() -> bool:
            return any(m.payload == payload for m in self.messages)

        if not self.wait_for(seen, timeout):
            got = [(m.topic, m.payload[:40]) for m in self.messages]
            raise TimeoutError(f"{payload!r} not received; got {got}")
        return next(m for m in self.messages if m.payload == payload)

    def payloads(self) -> list[bytes]:
        with self._cond:
            return [m.payload for m in self.messages]

    def topics(self) -> list[str]:
        with self._cond:
            return [m.topic for m in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll `predicate` (for conditions spanning several peers)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def marker() -> bytes:
    return f"marker-{uuid.uuid4().hex}".encode()
