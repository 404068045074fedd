"""Commands to terminals: issue with id and expiry, track acks and results, surface timeouts."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from broker import storage
from kiosk.wire.messages import Command, CommandAck

log = logging.getLogger(__name__)

Publish = Callable[[str, Command], Awaitable[None]]
MAX_TTL_S = 7 * 86_400
ACK_BATCH = 500  # acks applied per transaction


class UnknownDeviceError(LookupError):
    pass


class CommandService:
    def __init__(self, db: storage.Database, publish: Publish,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._publish = publish
        self._clock = clock
        self._acks: list[tuple[str, CommandAck, asyncio.Future[bool]]] = []
        self._ack_flush: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def send(self, device_id: str, name: str, args: dict[str, Any] | None = None,
                   ttl_s: float = 60.0) -> storage.CommandRecord:
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S}]")
        now = self.now_ms()
        cmd = Command(cmd_id=uuid.uuid4().hex, name=name, args=args or {}, issued_ms=now,
                      expires_ms=now + int(ttl_s * 1000))
        record = storage.CommandRecord.from_wire(device_id, cmd)
        try:
            await storage.create_command(self.db, record)
        except storage.NotFoundError as exc:
            raise UnknownDeviceError(f"no device {device_id!r}") from exc
        try:
            await self._publish(device_id, cmd)
        except Exception as exc:  # stays pending; the sweeper reports it timed out
            log.warning("command %s to %s not published yet: %s", cmd.cmd_id, device_id, exc)
        # an ack may already have moved it on; the caller gets it as sent (`get_command` reads)
        return record

    async def on_ack(self, device_id: str, ack: CommandAck) -> bool:
        """Apply an ack; acks arriving together share one transaction (True: it moved the
        command forward)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acks.append((device_id, ack, future))
        if self._ack_flush is None or self._ack_flush.done():
            self._ack_flush = asyncio.get_running_loop().create_task(self._flush_acks())
        accepted = await future
        if not accepted:
            log.info("ignored ack %s for %s from %s", ack.status, ack.cmd_id, device_id)
        return accepted

    async def _flush_acks(self) -> None:
        await asyncio.sleep(0)  # let the acks of this receive burst join the batch
        while self._acks:
            batch, self._acks = self._acks[:ACK_BATCH], self._acks[ACK_BATCH:]
            try:
                moved = await storage.apply_command_acks(self.db, [(d, a) for d, a, _ in batch])
            except Exception as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, _, fut), ok in zip(batch, moved, strict=True):
                if not fut.done():
                    fut.set_result(ok)

    async def sweep(self) -> list[str]:
        timed_out = await storage.expire_commands(self.db, self.now_ms())
        for cmd_id in timed_out:
            log.warning("command %s timed out without a final answer", cmd_id)
        return timed_out

    async def run_sweeper(self, every_s: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("command sweep failed")
            await asyncio.sleep(every_s)

    async def wait_final(self, cmd_id: str, timeout_s: float) -> storage.CommandRecord | None:
        """Poll until the command reaches a final status (or timed_out), or the time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            record = await storage.get_command(self.db, cmd_id)
            if record is None or record.final:
                return record
            if loop.time() >= deadline:
                return record
            await asyncio.sleep(0.05)
