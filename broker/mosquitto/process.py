"""Run the project's own Mosquitto as a child process, with its files in one data directory.

The data directory holds everything: `mosquitto.conf` and `acl` (regenerated on every start),
`passwd` (the source of truth for users, kept across restarts), `mosquitto.log` (broker log,
stdout and stderr) and `mosquitto.db` (persistence).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from broker.mosquitto.acl import DEFAULT_CONTROLLER_USER, check_controller_user, render_acl
from broker.mosquitto.binary import find_mosquitto
from broker.mosquitto.config import BrokerConfig, render_conf
from broker.mosquitto.datadir import BrokerFiles
from broker.mosquitto.errors import BrokerError
from broker.mosquitto.files import file_size, read_from, read_tail
from broker.mosquitto.net import Endpoint, free_port, port_accepts
from broker.mosquitto.passwords import check_username, hash_password

_POLL_S = 0.02


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout`; always reaps. Also the atexit/GC safety net."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


class ManagedBroker:
    """One Mosquitto process owned by this Python process.

    `run_as_user` is Mosquitto's `user` option; by default "root" when we are root (so the
    broker can read a root-owned data directory) and unset otherwise. Naming another user
    while root hands the data directory to that user.
    """

    def __init__(
        self,
        config: BrokerConfig,
        *,
        controller_user: str = DEFAULT_CONTROLLER_USER,
        run_as_user: str | None = None,
        mosquitto: str | None = None,
    ) -> None:
        self._config = replace(config, data_dir=Path(config.data_dir).resolve())
        if self._config.controller_port is None:
            self._config = replace(self._config, controller_port=free_port())
        self._controller_user = check_controller_user(controller_user)
        if run_as_user is None and os.geteuid() == 0:
            run_as_user = "root"
        self._run_as_user = run_as_user
        self._binary = mosquitto
        self._files = BrokerFiles(self._config.data_dir, broker_user=run_as_user)
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., None] | None = None
        self._lock = threading.RLock()

    # -- paths and state -------------------------------------------------------------------

    @property
    def config(self) -> BrokerConfig:
        return self._config

    @property
    def data_dir(self) -> Path:
        return self._config.data_dir

    @property
    def files(self) -> BrokerFiles:
        return self._files

    @property
    def log_path(self) -> Path:
        return self._files.log_path

    @property
    def endpoint(self) -> Endpoint:
        """Where clients connect (a wildcard listen address maps to loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self._config.host, self._config.host)
        return Endpoint(host, self._config.port, self._config.tls_port,
                        self._config.controller_port)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    def log_tail(self, lines: int = 30) -> str:
        return read_tail(self.log_path, lines=lines)

    def _log_since(self, offset: int, lines: int = 30) -> str:
        return "\n".join(read_from(self.log_path, offset).splitlines()[-lines:])

    def write_files(self) -> None:
        """(Re)generate conf and ACL; create an empty password file when there is none."""
        f = self._files
        conf = render_conf(
            self._config,
            password_file=f.password_path,
            acl_file=f.acl_path,
            log_file=f.log_path,
            run_as_user=self._run_as_user,
        )
        with self._lock:
            f.write_all(conf=conf, acl=render_acl(self._controller_user))

    # -- users -----------------------------------------------------------------------------

    def set_user(self, username: str, password: str) -> None:
        """Add or change a user (stored hashed); a running broker reloads, and Mosquitto
        2.0 then drops that user's live sessions opened with the old password."""
        self.set_users({username: password})

    def set_users(self, credentials: Mapping[str, str]) -> None:
        """Add or change many users with one file write and one reload."""
        hashed = {}
        for username, password in credentials.items():
            check_username(username)
            if not password:
                raise ValueError(f"empty password for {username!r}")
            hashed[username] = hash_password(password)
        with self._lock:
            self._files.write_users({**self._files.read_users(), **hashed})
            self.reload()

    def remove_user(self, username: str) -> bool:
        """Remove a user; a running broker reloads and drops its connections. False if absent."""
        with self._lock:
            users = self._files.read_users()
            if users.pop(username, None) is None:
                return False
            self._files.write_users(users)
            self.reload()
            return True

    def has_user(self, username: str) -> bool:
        return username in self._files.read_users()

    def users(self) -> list[str]:
        return sorted(self._files.read_users())

    # -- process ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start Mosquitto and wait until its listeners accept TCP connections."""
        with self._lock:
            if self.running:
                return
            if self._proc is not None:
                self.kill()  # reap a broker that died on its own
            binary = self._binary or find_mosquitto()
            self.write_files()
            ep = self.endpoint
            ports = [p for p in (ep.port, ep.tls_port, ep.controller_port) if p is not None]
            busy = [p for p in ports if port_accepts(ep.host, p)]
            if busy:
                raise BrokerError(f"port {busy[0]} on {ep.host} is already in use")
            log_start = file_size(self.log_path)
            with open(self.log_path, "ab") as out:
                proc = subprocess.Popen(
                    [binary, "-c", str(self._files.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env={**os.environ, "TZ": "UTC"},
                    start_new_session=True,  # own process group: a Ctrl-C reaches only us
                )
            self._proc = proc
            self._finalizer = weakref.finalize(self, _terminate, proc, 2.0)
            deadline = time.monotonic() + timeout
            while not self._ready(ports, log_start):
                if proc.poll() is not None:
                    self._forget()
                    raise BrokerError(
                        f"mosquitto exited with code {proc.returncode} while starting; "
                        f"log {self.log_path}:\n{self._log_since(log_start)}"
                    )
                if time.monotonic() > deadline:
                    self.kill()
                    raise BrokerError(
                        f"mosquitto did not listen on {ep.host}:{ports} within {timeout:g} s; "
                        f"log {self.log_path}:\n{self._log_since(log_start)}"
                    )
                time.sleep(_POLL_S)

    def _ready(self, ports: list[int], log_start: int) -> bool:
        # The "running" line comes after Mosquitto installs its signal handlers: an early
        # SIGHUP (reload) would otherwise kill it.
        if self._config.logs_information and " running" not in read_from(self.log_path, log_start):
            return False
        return all(port_accepts(self.endpoint.host, p) for p in ports)

    def _forget(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = None
        self._proc = None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file), SIGKILL after `timeout`."""
        with self._lock:
            if self._proc is not None:
                _terminate(self._proc, timeout)
            self._forget()

    def kill(self) -> None:
        """SIGKILL: an abrupt crash, nothing saved since the last autosave."""
        with self._lock:
            if self._proc is not None:
                if self._proc.poll() is None:
                    self._proc.kill()
                self._proc.wait()
            self._forget()

    def restart(self, timeout: float = 10.0) -> None:
        with self._lock:
            self.stop()
            self.start(timeout)

    def reload(self, timeout: float = 5.0) -> None:
        """SIGHUP: Mosquitto re-reads the password and ACL files and re-checks every
        connected client, dropping those whose user is gone or whose password changed.
        Returns once the log shows the reload (when the log records information-level
        lines); does nothing when the broker is not running."""
        with self._lock:
            if not self.running or self._proc is None:
                return
            offset = file_size(self.log_path)
            self._proc.send_signal(signal.SIGHUP)
            if not self._config.logs_information:
                return
            deadline = time.monotonic() + timeout
            while "Reloading config." not in read_from(self.log_path, offset):
                if not self.running or time.monotonic() > deadline:
                    raise BrokerError(
                        f"mosquitto did not confirm the reload within {timeout:g} s; "
                        f"log:\n{self.log_tail()}"
                    )
                time.sleep(_POLL_S)

    def __enter__(self) -> ManagedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
