"""The UI's heartbeat to its supervisor: systemd's notify protocol (no library needed) and a
heartbeat file for any other supervisor.

The app calls `ping()` from a Kivy Clock callback, so a frozen UI thread stops the pings and
systemd (`Type=notify`, `WatchdogSec=`) kills and restarts the app. `ready()` is sent once the
first ad is on screen. Outside systemd (no `NOTIFY_SOCKET`) only the file is touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 5.0


def ping_interval_s(env: Mapping[str, str], pid: int) -> float:
    """Half of systemd's watchdog period (when it is meant for this process), else 5 s."""
    usec, for_pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (for_pid and for_pid != str(pid)):
        return DEFAULT_INTERVAL_S
    try:
        period = int(usec) / 1_000_000
    except ValueError:
        return DEFAULT_INTERVAL_S
    return max(0.05, period / 2) if period > 0 else DEFAULT_INTERVAL_S


def socket_address(value: str | None) -> str | None:
    """`NOTIFY_SOCKET` as a path for `sendto`; an abstract socket (@name) gets its NUL."""
    if not value:
        return None
    return "\0" + value[1:] if value.startswith("@") else value


class Watchdog:
    def __init__(self, env: Mapping[str, str] | None = None,
                 heartbeat_file: Path | None = None) -> None:
        env = os.environ if env is None else env
        self.address = socket_address(env.get("NOTIFY_SOCKET"))
        self.interval_s = ping_interval_s(env, os.getpid())
        self.heartbeat_file = heartbeat_file
        self.pings = 0
        self.failing = False
        self.last_ping_s: float | None = None

    def notify(self, message: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as exc:
            if not self.failing:  # once, not at every ping
                log.warning("watchdog: notify %r failed: %s", message, exc)
            self.failing = True
            return False
        self.failing = False
        return True

    def ready(self) -> None:
        self.notify("READY=1\nSTATUS=attract loop playing")

    def ping(self) -> None:
        self.notify("WATCHDOG=1")
        self.pings += 1
        self.last_ping_s = time.monotonic()
        if self.heartbeat_file is not None:
            with contextlib.suppress(OSError):
                self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
                self.heartbeat_file.write_text(f"{time.time():.3f}\n")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
