"""Ports and addresses of the managed broker."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where clients reach the broker."""

    host: str
    port: int
    tls_port: int | None = None
    controller_port: int | None = None

    @property
    def controller(self) -> int:
        """The port controller workers use (their own listener when there is one)."""
        return self.controller_port if self.controller_port is not None else self.port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel's pick from the ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_accepts(host: str, port: int, *, timeout: float = 0.25) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
