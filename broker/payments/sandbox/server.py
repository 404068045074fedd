"""Run the sandbox in-process on a free port, in the current asyncio loop (tests, demo, bench):

    async with SandboxServer(keys) as sb:
        provider = sandbox_provider(keys, sb.base_url, notify_url)
        ...
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType

import uvicorn

from broker.payments.sandbox.app import Sandbox, SandboxConfig, create_app
from broker.payments.sandbox.clock import SandboxClock
from broker.payments.sandbox.keys import SandboxKeys


class SandboxServer:
    def __init__(self, keys: SandboxKeys, *, host: str = "127.0.0.1", port: int = 0,
                 config: SandboxConfig | None = None, clock: SandboxClock | None = None,
                 log_level: str = "warning") -> None:
        self.keys = keys
        self.host = host
        self.port = port
        self.sandbox = Sandbox(keys, config, clock)
        self.app = create_app(self.sandbox)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        # proto IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (with proto 0
        # it does not, and Nagle + delayed ACK add 40 ms to every keep-alive response)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._sock, self.port = sock, sock.getsockname()[1]
        # keep-alive well past any client's idle expiry (httpx: 5 s): a server that closes an
        # idle connection just as the client reuses it turns a request into a ReadError
        config = uvicorn.Config(self.app, lifespan="on", log_level=self._log_level,
                                access_log=False, timeout_graceful_shutdown=1,
                                timeout_keep_alive=75)
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the sandbox server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._sock is not None:
            self._sock.close()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()
