"""A terminal's broker credentials, as handed out by provisioning (JSON file, mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kiosk.wire.topics import check_device_id


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    password: str
    host: str = "127.0.0.1"
    port: int = 1883
    # The controller's Ed25519 public key (base64 of 32 bytes): content manifests must verify
    # under it. Empty: this terminal accepts no content (it plays nothing rather than anything).
    content_key: str = ""

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if not self.password:
            raise ValueError(f"{self.device_id}: empty password")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def save(path: Path, creds: list[DeviceCredentials]) -> None:
    _write_private(path, json.dumps([asdict(c) for c in creds], indent=1) + "\n")


def load(path: Path) -> list[DeviceCredentials]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read credentials {path}: {exc}") from exc
    items = doc if isinstance(doc, list) else [doc]
    try:
        return [DeviceCredentials(**item) for item in items]
    except TypeError as exc:
        raise ValueError(f"{path}: not a credentials file ({exc})") from exc
