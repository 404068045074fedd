"""Helpers for the payment sandbox tests: keys, a running sandbox, a notification receiver,
and v3 requests signed like a merchant's."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.payments import wechat_crypto as wc
from broker.payments.sandbox import SandboxConfig, SandboxServer
from broker.payments.sandbox.keys import MerchantKeys

FAST = SandboxConfig(refund_delay_ms=0, notify_retry_delays_ms=(50, 50, 100),
                     notify_timeout_s=2.0, tick_ms=20)


@dataclass
class Receiver:
    """A merchant's notification endpoint: records every delivery, answers `statuses` in turn
    (then 204)."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        status = self.statuses.pop(0) if self.statuses else 204
        return Response(b"" if status == 204 else b'{"code":"FAIL","message":"x"}', status)


@contextlib.asynccontextmanager
async def serve_app(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "receiver failed to start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/notify", receiver.handle, methods=["POST"])])
    async with serve_app(app) as base:
        receiver.url = base + "/notify"
        yield receiver


async def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def v3(client: httpx.AsyncClient, sb: SandboxServer, merchant: MerchantKeys, method: str,
             path: str, body: dict[str, Any] | None = None, *,
             timestamp_s: int | None = None) -> httpx.Response:
    """A v3 request signed with the merchant's key, as the SDK would send it."""
    raw = orjson.dumps(body).decode() if body is not None else ""
    auth = wc.build_authorization(wc.load_private_key(merchant.private_key),
                                  mchid=merchant.mchid, serial_no=merchant.serial_no,
                                  method=method, path=path, body=raw,
                                  timestamp_s=timestamp_s or int(time.time()))
    return await client.request(method, sb.base_url + path, content=raw or None,
                                headers={"Authorization": auth,
                                         "Content-Type": "application/json"})
