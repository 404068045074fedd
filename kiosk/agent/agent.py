"""The device agent: one MQTT 5 link to the controller for a terminal.

- connects with a Last Will (retained offline presence) and a persistent session, so commands
  sent while the terminal is away are queued by the broker;
- publishes retained presence and reported state, and heartbeats with health figures;
- sends outbox events in batches and deletes them only when the controller acknowledges them
  (`down/ack`); unacknowledged batches are sent again after `resend_after_s` or a reconnect —
  the controller deduplicates by (device, seq);
- applies desired config, runs commands, and makes MQTT 5 request/response calls;
- reconnects with jittered exponential backoff, forever, until `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ValidationError

from kiosk import __version__
from kiosk.agent import health
from kiosk.agent.backoff import Backoff
from kiosk.agent.commands import CommandRunner
from kiosk.agent.store import AgentStore
from kiosk.aio import first_to_exit
from kiosk.wire import codec, paho_speed
from kiosk.wire.messages import (
    Command,
    CommandAck,
    DesiredConfig,
    Event,
    EventAck,
    EventBatch,
    Presence,
    ReportedState,
    Request,
    Response,
)
from kiosk.wire.ranges import in_ranges
from kiosk.wire.topics import Channel, TopicError, device_topic, parse_topic

log = logging.getLogger(__name__)
paho_speed.install()  # Properties() per packet: share its tables (see the module)
CONFIG_KEY = "config.desired"


@dataclass(frozen=True)
class AgentConfig:
    device_id: str
    password: str
    host: str = "127.0.0.1"
    port: int = 1883
    data_dir: Path = Path("var/kiosk")
    app_version: str = __version__
    batch_size: int = 100
    max_inflight_batches: int = 8
    resend_after_s: float = 10.0
    heartbeat_s: float = 30.0
    keepalive_s: int = 30
    session_expiry_s: int = 86_400
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass
class AgentStats:
    connects: int = 0
    batches_sent: int = 0
    events_acked: int = 0
    resends: int = 0
    rejected: int = 0


@dataclass
class _Inflight:
    batches: dict[int, float] = field(default_factory=dict)  # last seq -> monotonic send time
    sent_upto: int = 0

    def reset(self) -> None:
        self.batches.clear()
        self.sent_upto = 0


class NotConnectedError(RuntimeError):
    pass


class KioskAgent:
    def __init__(
        self, cfg: AgentConfig, store: AgentStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.cfg = cfg
        self.store = store
        self._clock = clock
        self.commands = CommandRunner(store, self.now_ms)
        self.commands.register("ping", self._ping)
        self.config_listeners: list[Callable[[DesiredConfig], Awaitable[None]]] = []
        # called (as tasks) after every (re)connection: catch up on what may have been missed
        self.connect_listeners: list[Callable[[], Awaitable[None]]] = []
        self.connected = asyncio.Event()
        self.stats = AgentStats()
        self.config_version: int | None = None
        self.state_extra: dict[str, Any] = {}  # what the app adds to the reported state
        self._client: aiomqtt.Client | None = None
        self._wake = asyncio.Event()
        self._sending = asyncio.Event()
        self._sending.set()
        self._stopping = asyncio.Event()
        self._inflight = _Inflight()
        self._requests: dict[bytes, asyncio.Future[Response]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def topic(self, channel: Channel) -> str:
        return device_topic(self.cfg.device_id, channel)

    # ---- the app's side -------------------------------------------------------------------

    async def record(self, type_: str, data: dict[str, Any] | None = None) -> int:
        """Store one engagement event durably; it is sent when the link allows."""
        [seq] = await self.record_many([(type_, data or {})])
        return seq

    async def record_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Validate and store events; a bad one raises ValueError and none is stored."""
        now = self.now_ms()
        for type_, data in items:
            _check_event(type_, data, now)
        seqs = await self.store.add_events([(now, t, d) for t, d in items])
        self._wake.set()
        return seqs

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *,
        timeout: float = 10.0, idempotency_key: str | None = None,
    ) -> Response:
        """MQTT 5 request/response to the controller (response topic + correlation data)."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise NotConnectedError("not connected to the controller")
        corr = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = self.topic(Channel.RESPONSE)
        props.CorrelationData = corr
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._requests[corr] = future
        try:
            req = Request(method=method, params=params or {}, idempotency_key=idempotency_key)
            await client.publish(self.topic(Channel.REQUEST), codec.encode(req), qos=1,
                                 properties=props)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._requests.pop(corr, None)

    def stop(self) -> None:
        self._stopping.set()

    def pause_sending(self) -> None:
        """Keep recording but hold events in the outbox (service mode, benchmarks)."""
        self._sending.clear()

    def resume_sending(self) -> None:
        self._sending.set()

    # ---- the link -------------------------------------------------------------------------

    async def run(self) -> None:
        stored = await self.store.get(CONFIG_KEY)
        if stored is not None:
            self.config_version = DesiredConfig.model_validate(stored).version
        backoff = Backoff(self.cfg.backoff_initial_s, self.cfg.backoff_max_s)
        while not self._stopping.is_set():
            try:
                await self._session(backoff)
            except aiomqtt.MqttError as exc:
                log.info("%s: link down: %s", self.cfg.device_id, exc)
            finally:
                self.connected.clear()
                self._client = None
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff.next_delay())

    async def _session(self, backoff: Backoff) -> None:
        will = aiomqtt.Will(
            self.topic(Channel.PRESENCE),
            codec.encode(Presence(online=False, ts_ms=self.now_ms(), reason="lost",
                                  app_version=self.cfg.app_version)),
            qos=1, retain=True,
        )
        connect_props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect_props.SessionExpiryInterval = self.cfg.session_expiry_s
        async with aiomqtt.Client(
            self.cfg.host, self.cfg.port, username=self.cfg.device_id,
            password=self.cfg.password, identifier=self.cfg.device_id,
            protocol=aiomqtt.ProtocolVersion.V5, will=will, clean_start=False,
            keepalive=self.cfg.keepalive_s, properties=connect_props, timeout=10,
        ) as client:
            self._client = client
            self._inflight.reset()
            await client.subscribe(self.topic(Channel.CMD).rsplit("/", 1)[0] + "/#", qos=1)
            await self._publish(Channel.PRESENCE, Presence(
                online=True, ts_ms=self.now_ms(), app_version=self.cfg.app_version), retain=True)
            await self._publish_state()
            self.stats.connects += 1
            self.connected.set()
            backoff.reset()
            for on_connect in self.connect_listeners:
                self._spawn(on_connect())
            log.info("%s: connected to %s:%s", self.cfg.device_id, self.cfg.host, self.cfg.port)
            await first_to_exit([
                self._receive_loop(client), self._send_loop(), self._heartbeat_loop(),
                self._stopping.wait(),
            ])
            if self._stopping.is_set():
                await self._publish(Channel.PRESENCE, Presence(
                    online=False, ts_ms=self.now_ms(), reason="shutdown",
                    app_version=self.cfg.app_version), retain=True)

    async def _publish(self, channel: Channel, msg: BaseModel, *, qos: int = 1,
                       retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(self.topic(channel), codec.encode(msg), qos=qos, retain=retain)

    async def report_state(self, **extra: Any) -> None:
        """Merge `extra` into the reported state and publish it now if connected (else on
        the next connect: the state is retained and republished per session)."""
        self.state_extra.update(extra)
        if self._client is not None and self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await self._publish_state()

    async def _publish_state(self) -> None:
        await self._publish(Channel.STATE, ReportedState(
            ts_ms=self.now_ms(), config_version=self.config_version,
            app_version=self.cfg.app_version, extra=self.state_extra), retain=True)

    async def _send_loop(self) -> None:
        cfg, inflight = self.cfg, self._inflight
        timer: asyncio.TimerHandle | None = None
        while True:
            await self._sending.wait()
            self._wake.clear()
            oldest = min(inflight.batches.values(), default=None)
            if oldest is not None and time.monotonic() - oldest > cfg.resend_after_s:
                log.info("%s: no ack for %.0fs, resending unacknowledged events",
                         cfg.device_id, cfg.resend_after_s)
                self.stats.resends += 1
                inflight.reset()
            if len(inflight.batches) < cfg.max_inflight_batches:
                # One more than a batch: whether the next batch goes out right after this one
                # (`more`: the controller may then cover both with one ack).
                events = await self.store.pending(inflight.sent_upto, cfg.batch_size + 1)
                if events:
                    more = (len(events) > cfg.batch_size
                            and len(inflight.batches) + 1 < cfg.max_inflight_batches)
                    events = events[:cfg.batch_size]
                    batch = EventBatch(device_id=cfg.device_id, events=events, more=more)
                    inflight.batches[events[-1].seq] = time.monotonic()
                    inflight.sent_upto = events[-1].seq
                    await self._publish(Channel.EVENTS, batch)
                    self.stats.batches_sent += 1
                    continue
            # Sleep until an ack, a new event or the resend check is due. One timer that sets
            # the same event, armed again only once it has fired: cheaper than `wait_for` or a
            # timer per sleep (thousands a second in a simulated fleet of 1,000 agents).
            loop = asyncio.get_running_loop()
            if timer is None or timer.when() <= loop.time():
                timer = loop.call_later(min(1.0, cfg.resend_after_s / 2), self._wake.set)
            try:
                await self._wake.wait()
            except asyncio.CancelledError:
                timer.cancel()
                raise

    async def _heartbeat_loop(self) -> None:
        while True:
            snap = health.snapshot(app_version=self.cfg.app_version, data_dir=self.cfg.data_dir,
                                   outbox_pending=await self.store.count(), now_ms=self.now_ms())
            await self._publish(Channel.HEALTH, snap, qos=0)
            await asyncio.sleep(self.cfg.heartbeat_s)

    async def _receive_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                device_id, channel = parse_topic(message.topic.value)
                if device_id != self.cfg.device_id:
                    raise TopicError(f"message for another device {device_id!r}")
                await self._dispatch(channel, payload, message.properties)
            except (TopicError, codec.WireError) as exc:
                self.stats.rejected += 1
                log.warning("%s: rejected message on %s: %s", self.cfg.device_id,
                            message.topic.value, exc)

    async def _dispatch(self, channel: Channel, payload: bytes, props: Any) -> None:
        if channel is Channel.EVENTS_ACK:
            await self._on_ack(codec.decode(EventAck, payload))
        elif channel is Channel.CMD:
            self._spawn(self.commands.handle(codec.decode(Command, payload), self._send_ack))
        elif channel is Channel.CONFIG:
            await self._on_config(codec.decode(DesiredConfig, payload))
        elif channel is Channel.RESPONSE:
            corr = getattr(props, "CorrelationData", None)
            future = self._requests.get(bytes(corr)) if corr else None
            response = codec.decode(Response, payload)
            if future is not None and not future.done():
                future.set_result(response)
        else:
            raise TopicError(f"terminal does not consume {channel.value}")

    async def _on_ack(self, ack: EventAck) -> None:
        self.stats.events_acked += await self.store.ack(ack.ranges)
        for last in [s for s in self._inflight.batches if in_ranges(s, ack.ranges)]:
            del self._inflight.batches[last]
        self._wake.set()

    async def _on_config(self, desired: DesiredConfig) -> None:
        if self.config_version is not None and desired.version <= self.config_version:
            return
        await self.store.put(CONFIG_KEY, desired.model_dump())
        self.config_version = desired.version
        for listener in self.config_listeners:
            await listener(desired)
        await self._publish_state()

    async def _send_ack(self, ack: CommandAck) -> None:
        if self._client is not None:
            await self._publish(Channel.CMD_ACK, ack)

    async def _ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"pong": self.now_ms(), "outbox_pending": await self.store.count()}

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


MAX_EVENT_DATA_BYTES = 4096  # x batch_size stays well under the codec's payload limit


def _check_event(type_: str, data: dict[str, Any], now_ms: int) -> None:
    """Refuse at record time what the controller would refuse later: a bad event in the
    outbox would otherwise block every event behind it."""
    try:
        Event(seq=1, ts_ms=now_ms, type=type_, data=data)
    except ValidationError as exc:
        raise ValueError(f"invalid event {type_!r}: {exc.errors()[0]['msg']}") from None
    size = len(orjson.dumps(data))
    if size > MAX_EVENT_DATA_BYTES:
        raise ValueError(f"event {type_!r} data is {size} bytes (max {MAX_EVENT_DATA_BYTES})")
