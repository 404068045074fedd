"""The controller process: broker (managed or external), database, MQTT link, ingest, commands.

`Controller` implements the link's handlers; the HTTP app (`broker.web`) reads from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import storage
from broker.checkout_stack import CheckoutStack, start_checkout
from broker.commands import CommandService
from broker.content_store import ContentStore
from broker.ingest import EventIngest
from broker.mosquitto import BrokerConfig, ManagedBroker, generate_password
from broker.mqtt_link import ControllerLink
from broker.payments.lifecycle import Timings
from broker.payments.runtime import PaymentsRuntime
from broker.playlist_push import PlaylistPublisher, activation_of
from broker.registry_writer import RegistryWriter
from broker.settings import Settings, secret_in
from content.signing import load_or_create_private_key, public_key_to_text
from kiosk.credentials import DeviceCredentials
from kiosk.wire.batch_decoder import DecodedBatch
from kiosk.wire.messages import (
    Command,
    CommandAck,
    DesiredConfig,
    ErrorInfo,
    EventAck,
    Health,
    Presence,
    ReportedState,
    Request,
    Response,
)
from kiosk.wire.topics import Channel

log = logging.getLogger(__name__)

CHECKOUT_PUSH_TTL_S = 120.0  # an order or payment update older than this is stale news


class Controller:
    def __init__(self, settings: Settings, *, broker: ManagedBroker | None = None,
                 checkout_timings: Timings | None = None) -> None:
        """`broker`: a broker someone else manages (tests); its users are still ours to set.
        `checkout_timings`: the payment polling/deadline rules (tests make them short)."""
        self.checkout_timings = checkout_timings
        self.settings = settings
        self.data_dir = settings.controller.data_dir
        self.broker = broker
        self._owns_broker = False
        self.db: storage.Database | None = None
        self.link: ControllerLink | None = None
        self.ingest: EventIngest | None = None
        self.commands: CommandService | None = None
        self.registry: RegistryWriter | None = None
        self.playlists: PlaylistPublisher | None = None
        self.checkout: CheckoutStack | None = None
        self.admin_token = ""
        self.content: ContentStore | None = None
        self.signing_key: Ed25519PrivateKey | None = None
        self.content_key = ""
        # Where terminals download content; the HTTP server sets it once it has its port.
        self.content_base_url = settings.http.public_url or (
            f"http://{settings.http.host}:{settings.http.port}")
        self.started_ms = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._link_task: asyncio.Task[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self, *, link_timeout: float = 15.0) -> None:
        s = self.settings
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password = secret_in(self.data_dir, "controller.secret", s.broker.controller_password)
        self.admin_token = secret_in(self.data_dir, "admin.token", s.http.admin_token)
        self.content = ContentStore(self.data_dir / "content")
        self.signing_key = load_or_create_private_key(self.data_dir / "content-signing.pem")
        self.content_key = public_key_to_text(self.signing_key.public_key())
        if self.broker is not None:
            await asyncio.to_thread(self.broker.set_user, s.broker.controller_user, password)
        elif s.broker.mode == "managed":
            self.broker = ManagedBroker(
                BrokerConfig(host=s.broker.host, port=s.broker.port,
                             controller_port=s.broker.controller_port or None,
                             data_dir=self.data_dir / "mosquitto", max_queued_messages=100_000),
                controller_user=s.broker.controller_user)
            self._owns_broker = True
            self.broker.set_user(s.broker.controller_user, password)
            await asyncio.to_thread(self.broker.start)
        self.db = await storage.Database.open(s.db_url)
        await self.db.create_schema()
        self.ingest = EventIngest(self._insert, self._publish_ack,
                                  max_rows=s.controller.ingest_max_rows,
                                  max_delay_s=s.controller.ingest_max_delay_s,
                                  ack_hold_s=s.controller.ingest_ack_hold_s)
        link_port = (self.broker.endpoint.controller if self.broker
                     else s.broker.controller_port or s.broker.port)
        self.link = ControllerLink(self, host=s.broker.host, port=link_port,
                                   username=s.broker.controller_user, password=password,
                                   share_group=s.controller.share_group)
        self.commands = CommandService(self.db, self._publish_command)
        self.registry = RegistryWriter(self.db)
        self.playlists = PlaylistPublisher(
            self.db, self.content, self.signing_key, self._publish_config,
            lambda: self.content_base_url, hours=s.signage.hours, refresh_s=s.signage.refresh_s)
        self._link_task = asyncio.create_task(self.link.run())
        self._tasks = [asyncio.create_task(c) for c in (
            self.ingest.run(), self.registry.run(),
            self.commands.run_sweeper(s.controller.command_sweep_s),
            self.playlists.async_run())]
        if s.payments.provider != "off":
            self.checkout = await start_checkout(
                self.db, s.payments, self.data_dir, public_url=self.content_base_url,
                push=self._push_checkout, store_of=self._store_of,
                timings=self.checkout_timings)
        await asyncio.wait_for(self.link.connected.wait(), link_timeout)
        self.playlists.request()
        self.started_ms = int(time.time() * 1000)

    @property
    def payments(self) -> PaymentsRuntime | None:
        return self.checkout.runtime if self.checkout else None

    def set_public_url(self, base_url: str) -> None:
        """The HTTP server's address once it listens: content downloads, notifications."""
        self.content_base_url = base_url
        if self.checkout is not None:
            self.checkout.set_notify_base(base_url)

    async def stop(self) -> None:
        if self.checkout is not None:
            with contextlib.suppress(Exception):
                await self.checkout.stop()
        if self.link and self._link_task:
            self.link.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._link_task), 5)
            self._tasks.append(self._link_task)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ingest:
            with contextlib.suppress(Exception):
                await self.ingest.flush()  # committed but unacked: terminals resend, deduped
        if self.registry:
            with contextlib.suppress(Exception):
                await self.registry.flush()
        if self.db:
            await self.db.close()
        if self.broker and self._owns_broker:
            await asyncio.to_thread(self.broker.stop)

    # ---- provisioning -----------------------------------------------------------------------

    async def provision_device(self, device: storage.DeviceRecord) -> DeviceCredentials:
        """Register a terminal and give it broker credentials (shown once, stored hashed)."""
        assert self.db is not None
        password = generate_password()
        await storage.add_device(self.db, device)
        if self.broker is not None:
            await asyncio.to_thread(self.broker.set_user, device.device_id, password)
        return DeviceCredentials(device_id=device.device_id, password=password,
                                 host=self.settings.broker.host, port=self.settings.broker.port,
                                 content_key=self.content_key)

    # ---- link handlers ----------------------------------------------------------------------

    async def on_events(self, batch: DecodedBatch, received_ms: int) -> None:
        assert self.ingest is not None
        await self.ingest.submit(batch, received_ms)

    async def on_health(self, device_id: str, health: Health) -> None:
        assert self.registry is not None
        self.registry.seen(device_id, _now_ms(), health.model_dump(exclude={"v"}))

    async def on_presence(self, device_id: str, presence: Presence) -> None:
        assert self.registry is not None
        # Ordered by our receive time: the broker delivers one device's messages in order,
        # while a Last Will carries the timestamp of the connect that armed it.
        self.registry.presence(device_id, presence.online, _now_ms())

    async def on_state(self, device_id: str, state: ReportedState) -> None:
        assert self.registry is not None
        self.registry.state(device_id, state.model_dump(exclude={"v"}), state.config_version)
        digest = activation_of(state.extra)
        if digest is not None:
            self.registry.activated(device_id, digest, state.ts_ms)

    async def on_cmd_ack(self, device_id: str, ack: CommandAck) -> None:
        assert self.commands is not None
        await self.commands.on_ack(device_id, ack)

    async def on_request(self, device_id: str, request: Request) -> Response:
        if request.method == "ping":
            return Response(ok=True, result={"pong": _now_ms(), "device_id": device_id})
        if self.checkout is not None and self.checkout.api.handles(request.method):
            return await self.checkout.api.answer(device_id, request)
        return Response(ok=False, error=ErrorInfo(
            code="unknown_method", message=f"no method {request.method!r}"))

    # ---- internals ---------------------------------------------------------------------------

    async def _insert(self, batches: Sequence[storage.BatchRow]) -> int:
        assert self.db is not None
        return await storage.insert_event_batches(self.db, batches)

    async def _publish_ack(self, device_id: str, ack: EventAck) -> None:
        assert self.link is not None
        # QoS 0: an ack lost on the way only means the terminal resends after its timeout and
        # the store drops the repeat; QoS 1 would add a PUBACK round per ack on both sides.
        self.link.publish_nowait(device_id, Channel.EVENTS_ACK, ack)

    async def _publish_config(self, device_id: str, config: DesiredConfig) -> None:
        assert self.link is not None
        await self.link.publish(device_id, Channel.CONFIG, config, retain=True)

    async def _publish_command(self, device_id: str, cmd: Command) -> None:
        assert self.link is not None
        await self.link.publish(device_id, Channel.CMD, cmd)

    async def _push_checkout(self, device_id: str, name: str, args: dict[str, Any]) -> None:
        assert self.commands is not None
        await self.commands.send(device_id, name, args, ttl_s=CHECKOUT_PUSH_TTL_S)

    async def _store_of(self, device_id: str) -> str:
        assert self.db is not None
        device = await storage.get_device(self.db, device_id)
        if device is None:
            raise LookupError(f"no device {device_id!r}")
        return device.store_id

    def status(self) -> dict[str, Any]:
        ingest = self.ingest.stats if self.ingest else None
        return {
            "broker_connected": bool(self.link and self.link.connected.is_set()),
            "broker_managed": self.broker is not None,
            "database": self.db.dialect if self.db else None,
            "events_received": ingest.events if ingest else 0,
            "events_stored": ingest.committed_new if ingest else 0,
            "events_duplicate": ingest.duplicates if ingest else 0,
            "ingest_buffered": self.ingest.buffered if self.ingest else 0,
            "rejected": self.link.rejects.snapshot() if self.link else {},
        }


def _now_ms() -> int:
    return int(time.time() * 1000)
