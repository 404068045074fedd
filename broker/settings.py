"""Controller configuration: a TOML file, then `STORE_<SECTION>_<KEY>` environment variables.

Example `controller.toml`:

    [controller]
    data_dir = "var/controller"
    db_url = "postgresql+asyncpg://postgres@127.0.0.1:5432/stores"   # default: SQLite in data_dir

    [broker]
    mode = "managed"        # or "external": connect to a broker someone else runs
    port = 18830

    [http]
    port = 8080

Secrets left empty (the controller's broker password, the admin API token) are generated once
and kept in `data_dir` with mode 0600.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ControllerSection(_Section):
    data_dir: Path = Path("var/controller")
    db_url: str = ""
    share_group: str = Field(default="controllers", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    command_sweep_s: float = Field(default=1.0, gt=0)
    ingest_max_rows: int = Field(default=5000, ge=1)
    ingest_max_delay_s: float = Field(default=0.05, gt=0)
    # How long a device's ack may wait for more of its events (`EventBatch.more`): well under
    # the terminals' resend timeout (`AgentConfig.resend_after_s`, 10 s).
    ingest_ack_hold_s: float = Field(default=2.0, ge=0, le=5)


class BrokerSection(_Section):
    mode: Literal["managed", "external"] = "managed"
    host: str = "127.0.0.1"
    port: int = Field(default=18830, ge=1, le=65535)
    # The listener controller workers connect to; 0: a free one (managed) or `port` (external).
    controller_port: int = Field(default=0, ge=0, le=65535)
    controller_user: str = "controller"
    controller_password: str = ""


class HttpSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_token: str = ""
    # How terminals reach this server for content downloads; empty: http://host:port.
    public_url: str = Field(default="", pattern=r"^(https?://[^\s/]+(:\d+)?)?$")


class SignageSection(_Section):
    hours: int = Field(default=6, ge=1, le=48)  # how far ahead playlists are compiled
    refresh_s: float = Field(default=600.0, gt=0)  # recompile this often even without edits


class PaymentsSection(_Section):
    """Which provider takes payments. "sandbox" runs the local WeChat Pay v3 sandbox inside
    the controller and talks to it through the real WeChat adapter; "wechat" and "alipay" need
    the merchant's keys (paths below); "off" disables checkout."""

    provider: Literal["sandbox", "wechat", "alipay", "off"] = "sandbox"
    sweep_s: float = Field(default=1.0, gt=0)
    order_ttl_s: float = Field(default=900.0, gt=0)
    qr_ttl_s: float = Field(default=120.0, gt=0)
    face_second_factor_above_fen: int = Field(default=20_000, ge=0)
    sandbox_port: int = Field(default=0, ge=0, le=65535)  # 0: a free port
    # past this a provider call's outcome is unknown (then resolved by query)
    provider_timeout_s: float = Field(default=10.0, gt=0)
    # a sandbox someone else runs (`python -m broker.payments.sandbox`): its URL and keys dir
    sandbox_url: str = ""
    sandbox_keys_dir: Path | None = None
    # WeChat Pay v3 (direct merchant); base_url empty: the SDK's production host
    wechat_mchid: str = ""
    wechat_appid: str = ""
    wechat_private_key: Path | None = None
    wechat_cert_serial_no: str = ""
    wechat_apiv3_key: str = ""
    wechat_public_key: Path | None = None
    wechat_public_key_id: str = ""
    wechat_base_url: str = ""
    # Alipay open platform
    alipay_app_id: str = ""
    alipay_private_key: Path | None = None
    alipay_public_key: Path | None = None
    alipay_gateway: str = ""


class Settings(_Section):
    controller: ControllerSection = Field(default_factory=ControllerSection)
    broker: BrokerSection = Field(default_factory=BrokerSection)
    http: HttpSection = Field(default_factory=HttpSection)
    signage: SignageSection = Field(default_factory=SignageSection)
    payments: PaymentsSection = Field(default_factory=PaymentsSection)

    @property
    def db_url(self) -> str:
        if self.controller.db_url:
            return self.controller.db_url
        return f"sqlite+aiosqlite:///{self.controller.data_dir.resolve() / 'controller.sqlite'}"


def _env_overrides(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section in ("controller", "broker", "http", "payments"):
        prefix = f"STORE_{section.upper()}_"
        for key, value in env.items():
            if key.startswith(prefix):
                out.setdefault(section, {})[key[len(prefix) :].lower()] = value
    return out


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    doc: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    for section, values in _env_overrides(dict(os.environ if env is None else env)).items():
        doc.setdefault(section, {}).update(values)
    return Settings.model_validate(doc)


def secret_in(data_dir: Path, name: str, given: str) -> str:
    """Return `given`, or a secret generated once and kept in data_dir/name (mode 0600)."""
    if given:
        return given
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
