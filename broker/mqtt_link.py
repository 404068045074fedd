"""The controller's MQTT link: subscribe, validate, dispatch; publish downstream.

Event, health, command-ack and request traffic comes through an MQTT 5 *shared* subscription,
so several controller processes split the load. Presence and reported state are retained, and
the broker never hands retained messages to shared subscriptions, so every controller reads
those directly (their handlers are idempotent).

A payload that breaks the contract is counted and logged with its reason and dropped; it never
raises out of the receive loop, so one bad terminal cannot stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import time
import uuid
from collections.abc import Coroutine
from typing import Any, Protocol

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel

from broker.mqtt_reads import buffer_reads
from kiosk.agent.backoff import Backoff
from kiosk.aio import first_to_exit
from kiosk.wire import codec, paho_speed
from kiosk.wire.batch_decoder import DecodedBatch, decode_event_batch
from kiosk.wire.messages import (
    CommandAck,
    ErrorInfo,
    Health,
    Presence,
    ReportedState,
    Request,
    Response,
)
from kiosk.wire.topics import Channel, TopicError, device_topic, parse_topic, shared, wildcard

log = logging.getLogger(__name__)
paho_speed.install()  # Properties() per packet: share its tables (see the module)

# When the request being answered reached this process (perf_counter seconds): latency
# figures count the time it waited in the inbound queue too.
request_arrived: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "request_arrived", default=None)


def _stamp_arrivals(client: aiomqtt.Client) -> None:
    """Note on every incoming message when it came off the socket (aiomqtt keeps no time)."""
    queue = client._queue
    put = queue.put_nowait

    def stamped(message: Any) -> None:
        with contextlib.suppress(AttributeError):
            message.arrived_s = time.perf_counter()
        put(message)

    queue.put_nowait = stamped  # type: ignore[method-assign]

SHARED_CHANNELS = (Channel.EVENTS, Channel.HEALTH, Channel.CMD_ACK, Channel.REQUEST)
DIRECT_CHANNELS = (Channel.PRESENCE, Channel.STATE)
YIELD_EVERY = 20


class LinkHandlers(Protocol):
    async def on_events(self, batch: DecodedBatch, received_ms: int) -> None: ...
    async def on_health(self, device_id: str, health: Health) -> None: ...
    async def on_presence(self, device_id: str, presence: Presence) -> None: ...
    async def on_state(self, device_id: str, state: ReportedState) -> None: ...
    async def on_cmd_ack(self, device_id: str, ack: CommandAck) -> None: ...
    async def on_request(self, device_id: str, request: Request) -> Response: ...


class ControllerLink:
    def __init__(
        self, handlers: LinkHandlers, *, host: str, port: int, username: str, password: str,
        share_group: str = "controllers", client_id: str | None = None,
    ) -> None:
        self.handlers = handlers
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.share_group = share_group
        self.client_id = client_id or f"controller-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rejects = codec.RejectCounter()
        self.received = 0
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while not self._stopping.is_set():
            try:
                async with aiomqtt.Client(
                    self.host, self.port, username=self.username, password=self.password,
                    identifier=self.client_id, protocol=aiomqtt.ProtocolVersion.V5,
                    clean_start=True, keepalive=30, timeout=10,
                    max_inflight_messages=1000, max_queued_outgoing_messages=0,
                ) as client:
                    self._client = client
                    _stamp_arrivals(client)
                    buffer_reads(client._client)  # one recv for many packets (see module)
                    # Acks to a thousand terminals are in flight at once by design.
                    client.pending_calls_threshold = 10_000
                    for ch in SHARED_CHANNELS:
                        await client.subscribe(shared(self.share_group, wildcard(ch)), qos=1)
                    for ch in DIRECT_CHANNELS:
                        await client.subscribe(wildcard(ch), qos=1)
                    self.connected.set()
                    backoff.reset()
                    log.info("controller link up (%s:%s as %s)", self.host, self.port,
                             self.client_id)
                    await first_to_exit([self._stopping.wait(), self._receive(client)])
            except aiomqtt.MqttError as exc:
                log.warning("controller link down: %s", exc)
            finally:
                self._client = None
                self.connected.clear()
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff.next_delay())

    async def publish(
        self, device_id: str, channel: Channel, msg: BaseModel, *, retain: bool = False,
        qos: int = 1, properties: Properties | None = None,
    ) -> None:
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("controller link is down")
        await client.publish(device_topic(device_id, channel), codec.encode(msg), qos=qos,
                             retain=retain, properties=properties)

    def publish_nowait(self, device_id: str, channel: Channel, msg: BaseModel) -> None:
        """Queue a QoS 0 message without waiting for paho to write it (event acks: a lost one
        only means a resend). aiomqtt's `publish` would create an event, a pending-call entry
        and a `wait_for` task per message; thousands of acks a second make that measurable."""
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("controller link is down")
        info = client._client.publish(device_topic(device_id, channel), codec.encode(msg), qos=0)
        if info.rc != 0:
            raise aiomqtt.MqttError(f"ack not queued (paho rc {info.rc})")

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.received += 1
            if self.received % YIELD_EVERY == 0:
                # Queue.get() does not yield while messages are waiting: let the flusher,
                # the ack publisher and the HTTP server run.
                await asyncio.sleep(0)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            topic = message.topic.value
            try:
                device_id, channel = parse_topic(topic)
                await self._dispatch(device_id, channel, payload, message.properties,
                                     getattr(message, "arrived_s", None))
            except TopicError as exc:
                self._reject("topic", "bad_topic", topic, str(exc))
            except codec.WireError as exc:
                self._reject(topic.rsplit("/", 1)[-1], exc.reason, topic, str(exc))
            except Exception:  # a handler bug must not stop ingest for everyone
                self.rejects.add(topic.rsplit("/", 1)[-1], "handler_error")
                log.exception("handler failed for %s", topic)

    def _reject(self, channel: str, reason: str, topic: str, detail: str) -> None:
        self.rejects.add(channel, reason)
        n = self.rejects.total
        if n <= 20 or n & (n - 1) == 0:  # log the first ones, then at powers of two
            log.warning("rejected payload on %s: %s (%d rejected so far)", topic, detail, n)

    async def _dispatch(self, device_id: str, channel: Channel, payload: bytes,
                        props: Any, arrived: float | None = None) -> None:
        h = self.handlers
        if channel is Channel.EVENTS:
            batch = decode_event_batch(payload)
            if batch.device_id != device_id:
                raise codec.WireError("device_mismatch", f"{batch.device_id!r} on {device_id!r}")
            await h.on_events(batch, int(time.time() * 1000))
        elif channel is Channel.HEALTH:
            await h.on_health(device_id, codec.decode(Health, payload))
        elif channel is Channel.PRESENCE:
            if payload:  # an empty retained payload is a cleared topic
                await h.on_presence(device_id, codec.decode(Presence, payload))
        elif channel is Channel.STATE:
            if payload:
                await h.on_state(device_id, codec.decode(ReportedState, payload))
        elif channel is Channel.CMD_ACK:
            # a database write each: run apart, so acks never hold up requests and events
            # (an ack's transition is a compare-and-set, so their order does not matter)
            self._spawn(self._guarded(h.on_cmd_ack(device_id,
                                                   codec.decode(CommandAck, payload))))
        elif channel is Channel.REQUEST:
            self._start_request(device_id, payload, props)
        else:
            raise TopicError(f"controller does not consume {channel.value}")

    def _start_request(self, device_id: str, payload: bytes, props: Any,
                       arrived: float | None = None) -> None:
        response_topic = getattr(props, "ResponseTopic", None)
        corr = getattr(props, "CorrelationData", None)
        # A terminal may only ask for answers on its own response topic: otherwise it could
        # make the controller publish into another terminal's topics.
        if response_topic != device_topic(device_id, Channel.RESPONSE) or not corr:
            raise codec.WireError("bad_response_topic", str(response_topic)[:80])
        request = codec.decode(Request, payload)
        self._spawn(self._answer(device_id, request, bytes(corr), arrived))

    async def _answer(self, device_id: str, request: Request, corr: bytes,
                      arrived: float | None = None) -> None:
        request_arrived.set(arrived)
        try:
            response = await self.handlers.on_request(device_id, request)
        except Exception as exc:
            log.exception("request %s from %s failed", request.method, device_id)
            response = Response(ok=False, error=ErrorInfo(code="internal", message=str(exc)[:200]))
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = corr
        with contextlib.suppress(aiomqtt.MqttError):
            await self.publish(device_id, Channel.RESPONSE, response, properties=props)

    async def _guarded(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception:
            self.rejects.add("cmd-ack", "handler_error")
            log.exception("command ack handler failed")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
