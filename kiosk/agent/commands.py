"""Command handling on the terminal: expiry, de-duplication, handler dispatch.

Pure of MQTT: `CommandRunner.handle` takes a decoded Command and returns the acks to publish.
Executed command ids are remembered in the local store so a redelivered command (QoS 1 after a
reconnect) is answered with its earlier result instead of running twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kiosk.agent.store import AgentStore
from kiosk.wire.messages import Command, CommandAck

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SEEN_KEY = "commands.seen"
SEEN_LIMIT = 200
HANDLER_TIMEOUT_S = 60.0


class CommandRunner:
    def __init__(self, store: AgentStore, clock_ms: Callable[[], int]) -> None:
        self._store = store
        self._clock_ms = clock_ms
        self.handlers: dict[str, Handler] = {}

    def register(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    async def handle(self, cmd: Command, send: Callable[[CommandAck], Awaitable[None]]) -> None:
        seen: dict[str, dict[str, Any]] = await self._store.get(SEEN_KEY) or {}
        if cmd.cmd_id in seen:
            await send(CommandAck.model_validate(seen[cmd.cmd_id]))
            return
        now = self._clock_ms()
        if cmd.expired(now):
            final = CommandAck(cmd_id=cmd.cmd_id, status="expired", ts_ms=now,
                               error=f"arrived {now - cmd.expires_ms} ms after expiry")
        elif cmd.name not in self.handlers:
            final = CommandAck(cmd_id=cmd.cmd_id, status="rejected", ts_ms=now,
                               error=f"unknown command {cmd.name!r}")
        else:
            await send(CommandAck(cmd_id=cmd.cmd_id, status="received", ts_ms=now))
            final = await self._run(cmd)
        seen[cmd.cmd_id] = final.model_dump(exclude_none=True)
        while len(seen) > SEEN_LIMIT:
            seen.pop(next(iter(seen)))
        await self._store.put(SEEN_KEY, seen)
        await send(final)

    async def _run(self, cmd: Command) -> CommandAck:
        try:
            result = await asyncio.wait_for(self.handlers[cmd.name](dict(cmd.args)),
                                            HANDLER_TIMEOUT_S)
            return CommandAck(cmd_id=cmd.cmd_id, status="done", ts_ms=self._clock_ms(),
                              result=result)
        except Exception as exc:  # a failing handler is reported, never kills the agent
            log.warning("command %s (%s) failed: %s", cmd.cmd_id, cmd.name, exc)
            return CommandAck(cmd_id=cmd.cmd_id, status="failed", ts_ms=self._clock_ms(),
                              error=f"{type(exc).__name__}: {exc}"[:1000])
