"""The sandbox's keys: one platform key pair (signs responses and notifications, named by a
public key id) and, per merchant, an API key pair, a certificate serial number and an APIv3 key.

`load_or_create(dir)` reuses what the directory holds and generates what is missing; files are
written atomically, private material with mode 0600:

    platform_key.pem            platform private key (the sandbox's secret)
    platform_pub.pem            platform public key (what clients verify with)
    merchant_<mchid>_key.pem    the merchant's API private key (the client's secret)
    sandbox.json                public_key_id; per merchant: mchid, appid, name, serial_no,
                                apiv3_key, public key PEM
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.payments import wechat_crypto as wc
from content.atomic import atomic_write

DEFAULT_MCHID = "1900000109"
DEFAULT_APPID = "wxd678efh567hg6787"


@dataclass(frozen=True, slots=True)
class MerchantKeys:
    mchid: str
    appid: str
    name: str
    private_key: str  # PEM: the merchant signs its requests with it
    public_key: str  # PEM: the sandbox verifies requests with it
    serial_no: str  # the merchant certificate serial number (Authorization serial_no)
    apiv3_key: str  # 32 characters: notification resources are encrypted with it


@dataclass(frozen=True, slots=True)
class SandboxKeys:
    platform_private_key: str
    platform_public_key: str
    public_key_id: str
    merchants: tuple[MerchantKeys, ...]

    @property
    def primary(self) -> MerchantKeys:
        return self.merchants[0]

    def merchant(self, mchid: str) -> MerchantKeys | None:
        return next((m for m in self.merchants if m.mchid == mchid), None)


def new_merchant(mchid: str, appid: str | None = None, name: str | None = None) -> MerchantKeys:
    private = wc.generate_private_key_pem()
    return MerchantKeys(mchid=mchid, appid=appid or DEFAULT_APPID,
                        name=name or f"Sandbox merchant {mchid}", private_key=private,
                        public_key=wc.public_key_pem(private), serial_no=wc.generate_serial_no(),
                        apiv3_key=wc.generate_apiv3_key())


def generate(mchids: Sequence[str] = (DEFAULT_MCHID,)) -> SandboxKeys:
    """Fresh keys in memory (tests)."""
    private = wc.generate_private_key_pem()
    return SandboxKeys(private, wc.public_key_pem(private), wc.generate_public_key_id(),
                       tuple(new_merchant(m) for m in mchids))


def _write(path: Path, text: str, *, secret: bool) -> None:
    atomic_write(path, text.encode(), mode=0o600 if secret else 0o644)


def save(keys: SandboxKeys, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / "platform_key.pem", keys.platform_private_key, secret=True)
    _write(directory / "platform_pub.pem", keys.platform_public_key, secret=False)
    for m in keys.merchants:
        _write(directory / f"merchant_{m.mchid}_key.pem", m.private_key, secret=True)
    meta = {"public_key_id": keys.public_key_id,
            "merchants": [{"mchid": m.mchid, "appid": m.appid, "name": m.name,
                           "serial_no": m.serial_no, "apiv3_key": m.apiv3_key,
                           "public_key": m.public_key} for m in keys.merchants]}
    _write(directory / "sandbox.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
           secret=True)


def load(directory: Path) -> SandboxKeys:
    meta = json.loads((directory / "sandbox.json").read_text())
    merchants = tuple(
        MerchantKeys(mchid=m["mchid"], appid=m["appid"], name=m["name"],
                     private_key=(directory / f"merchant_{m['mchid']}_key.pem").read_text(),
                     public_key=m["public_key"], serial_no=m["serial_no"],
                     apiv3_key=m["apiv3_key"])
        for m in meta["merchants"])
    return SandboxKeys((directory / "platform_key.pem").read_text(),
                       (directory / "platform_pub.pem").read_text(),
                       meta["public_key_id"], merchants)


def load_or_create(directory: Path, mchids: Sequence[str] = (DEFAULT_MCHID,)) -> SandboxKeys:
    """Load the keys in `directory`, adding any merchant of `mchids` it does not have yet."""
    if (directory / "sandbox.json").exists():
        keys = load(directory)
        missing = [m for m in mchids if keys.merchant(m) is None]
        if not missing:
            return keys
        keys = SandboxKeys(keys.platform_private_key, keys.platform_public_key,
                           keys.public_key_id,
                           keys.merchants + tuple(new_merchant(m) for m in missing))
    else:
        keys = generate(mchids)
    save(keys, directory)
    return keys
