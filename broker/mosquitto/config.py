"""Broker settings and the mosquitto.conf they render to (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LOG_TYPES = frozenset(
    {
        "debug",
        "error",
        "warning",
        "notice",
        "information",
        "subscribe",
        "unsubscribe",
        "websockets",
        "none",
        "all",
    }
)
_EXPIRATION_RE = re.compile(r"^[1-9][0-9]*[hdwmy]$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.:_-]+$")


def _check_port(name: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"{name} must be 1-65535, got {port}")


def _conf_path(path: Path) -> str:
    """A path as Mosquitto reads it: absolute, one line, no surrounding blanks."""
    text = str(path)
    if not Path(path).is_absolute():
        raise ValueError(f"mosquitto.conf needs absolute paths, got {text!r}")
    if "\n" in text or "\r" in text or text != text.strip():
        raise ValueError(f"path unusable in mosquitto.conf: {text!r}")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """What the project's Mosquitto listens on and how it keeps data.

    `message_size_limit` is the largest accepted PUBLISH payload in bytes (0: no limit);
    larger publishes are dropped by the broker, the client stays connected.
    `persistent_client_expiration` drops sessions of clients gone that long (e.g. retired
    terminals), `None` keeps them forever.
    """

    port: int
    data_dir: Path
    host: str = "127.0.0.1"
    # Loopback listener for the controller's workers. Terminal listeners force the client id
    # to the username (a terminal cannot take over another's session by reusing its client
    # id); controller workers share one username, so they need a listener without that rule.
    controller_port: int | None = None
    persistence: bool = True
    autosave_interval: int = 30
    persistent_client_expiration: str | None = "30d"
    tls_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_cafile: Path | None = None
    require_client_certificate: bool = False
    max_queued_messages: int = 10_000
    max_inflight_messages: int = 100
    message_size_limit: int = 1_048_576
    max_keepalive: int = 600
    log_types: tuple[str, ...] = ("error", "warning", "notice", "information")

    def __post_init__(self) -> None:
        _check_port("port", self.port)
        if self.controller_port is not None:
            _check_port("controller_port", self.controller_port)
            if self.controller_port in (self.port, self.tls_port):
                raise ValueError("controller_port must differ from the terminal ports")
        if not _HOST_RE.match(self.host):
            raise ValueError(f"invalid listen host {self.host!r}")
        tls_files = (self.tls_cert, self.tls_key)
        if self.tls_port is not None:
            _check_port("tls_port", self.tls_port)
            if self.tls_port == self.port:
                raise ValueError("tls_port must differ from port")
            if None in tls_files:
                raise ValueError("a TLS listener needs tls_cert and tls_key")
        elif any(p is not None for p in (*tls_files, self.tls_cafile)):
            raise ValueError("tls_cert/tls_key/tls_cafile given without tls_port")
        if self.require_client_certificate and self.tls_cafile is None:
            raise ValueError("require_client_certificate needs tls_cafile")
        for name in ("max_queued_messages", "max_inflight_messages", "message_size_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.autosave_interval < 1:
            raise ValueError("autosave_interval must be >= 1 second")
        if not 10 <= self.max_keepalive <= 65535:
            raise ValueError("max_keepalive must be 10-65535 seconds")
        exp = self.persistent_client_expiration
        if exp is not None and not _EXPIRATION_RE.match(exp):
            raise ValueError(f"persistent_client_expiration like '30d' expected, got {exp!r}")
        unknown = set(self.log_types) - LOG_TYPES
        if unknown or not self.log_types:
            raise ValueError(f"unknown or no log types: {sorted(unknown)}")

    @property
    def logs_information(self) -> bool:
        """Whether the log shows notices such as 'Reloading config.'."""
        return bool({"information", "all"} & set(self.log_types))


def render_conf(
    cfg: BrokerConfig,
    *,
    password_file: Path,
    acl_file: Path,
    log_file: Path,
    run_as_user: str | None,
) -> str:
    """The mosquitto.conf text for `cfg`.

    `run_as_user` becomes Mosquitto's `user` option. Mosquitto 2.0 started as root drops
    privileges to user `mosquitto` unless told otherwise, and then cannot read files in a
    root-only directory: pass "root" (or chown the files to the user you name). Started as
    a normal user, Mosquitto ignores `user`.
    """
    bool_ = {True: "true", False: "false"}
    lines = [
        "# Generated by broker.mosquitto.config; rewritten on every broker start, do not edit.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {_conf_path(password_file)}",
        f"acl_file {_conf_path(acl_file)}",
    ]
    if run_as_user is not None:
        if not re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}", run_as_user):
            raise ValueError(f"invalid user name {run_as_user!r}")
        lines.append(f"user {run_as_user}")
    lines += ["", f"persistence {bool_[cfg.persistence]}"]
    if cfg.persistence:
        lines += [
            f"persistence_location {_conf_path(cfg.data_dir)}",
            "persistence_file mosquitto.db",
            f"autosave_interval {cfg.autosave_interval}",
        ]
    if cfg.persistent_client_expiration:
        lines.append(f"persistent_client_expiration {cfg.persistent_client_expiration}")
    lines += [
        "",
        f"max_queued_messages {cfg.max_queued_messages}",
        f"max_inflight_messages {cfg.max_inflight_messages}",
        f"message_size_limit {cfg.message_size_limit}",
        f"max_keepalive {cfg.max_keepalive}",
        "set_tcp_nodelay true",
        "",
        f"log_dest file {_conf_path(log_file)}",
        *(f"log_type {t}" for t in cfg.log_types),
        "log_timestamp true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S%z",
        "connection_messages true",
        "",
        f"listener {cfg.port} {cfg.host}",
        "protocol mqtt",
        "use_username_as_clientid true",
    ]
    if cfg.controller_port is not None:
        lines += ["", f"listener {cfg.controller_port} 127.0.0.1", "protocol mqtt"]
    if cfg.tls_port is not None:
        assert cfg.tls_cert is not None and cfg.tls_key is not None  # checked in BrokerConfig
        lines += [
            "",
            f"listener {cfg.tls_port} {cfg.host}",
            "protocol mqtt",
            f"certfile {_conf_path(cfg.tls_cert)}",
            f"keyfile {_conf_path(cfg.tls_key)}",
            "tls_version tlsv1.2",
            "use_username_as_clientid true",
        ]
        if cfg.tls_cafile is not None:
            lines.append(f"cafile {_conf_path(cfg.tls_cafile)}")
        lines.append(f"require_certificate {bool_[cfg.require_client_certificate]}")
    return "\n".join(lines) + "\n"
