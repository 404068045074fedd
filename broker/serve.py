"""Run the controller and its HTTP server in one event loop until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from broker.controller import Controller
from broker.web import create_app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class HttpServer:
    def __init__(self, controller: Controller, host: str, port: int) -> None:
        config = uvicorn.Config(create_app(controller), host=host, port=port,
                                log_level="warning", lifespan="off")
        self.server = _Server(config)
        self.controller = controller
        self.host = host
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
                raise RuntimeError("HTTP server stopped during start")
            await asyncio.sleep(0.02)
        if not self.controller.settings.http.public_url:  # terminals download from here
            self.controller.set_public_url(f"http://{self.host}:{self.port}")

    @property
    def port(self) -> int:
        for srv in self.server.servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("HTTP server not started")

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task:
            await self._task
