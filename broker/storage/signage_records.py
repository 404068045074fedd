"""Validated, immutable records of signage: brands, creatives, campaigns, published playlists.

Same rules as `records`: constructing a record checks it and a bad value raises `ValueError`
naming the record and the field. Times are UTC epoch milliseconds; hashes are lowercase hex.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from broker.storage.records import _check_device_id, _check_ms, _check_text, _fail
from broker.storage.schema import CAMPAIGN_STATUSES
from content.manifest import MAX_FILE_BYTES, MEDIA_TYPES

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_BRAND_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CAMPAIGN_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # as `content.playlist.CampaignId`
MAX_TOKEN_CHARS = 512
MAX_PIXELS_SIDE = 16384  # as `content.manifest.FileEntry`


def is_sha256_hex(value: Any) -> bool:
    return isinstance(value, str) and _SHA256_RE.match(value) is not None


def new_api_token() -> str:
    """A fresh random bearer token for a brand operator (43 URL-safe chars, 256 bits)."""
    return secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    """The hex sha256 of a bearer token: what `brands.api_token_sha256` stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check_sha256(what: str, name: str, value: Any, *, optional: bool = False) -> None:
    if (value is None and optional) or is_sha256_hex(value):
        return
    _fail(what, f"{name} must be 64 lowercase hex chars (sha256){' or None' if optional else ''}"
                f", got {value!r}")


def _check_brand_id(what: str, value: Any) -> None:
    if not isinstance(value, str) or not _BRAND_ID_RE.match(value):
        _fail(what, f"brand_id must be 1-64 chars of A-Z a-z 0-9 _ . -, got {value!r}")


def _check_int(what: str, name: str, value: Any, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        _fail(what, f"{name} must be an integer {low}..{high}, got {value!r}")


@dataclass(frozen=True, slots=True)
class BrandRecord:
    """An advertiser. Its operator authenticates with a bearer token; only the hash is kept."""

    brand_id: str
    name: str
    api_token_sha256: str
    created_ms: int

    def __post_init__(self) -> None:
        _check_brand_id("brand", self.brand_id)
        what = f"brand {self.brand_id!r}"
        _check_text(what, "name", self.name, 200)
        _check_sha256(what, "api_token_sha256", self.api_token_sha256)
        _check_ms(what, "created_ms", self.created_ms)


@dataclass(frozen=True, slots=True)
class CreativeRecord:
    """A media file known by its sha256; `brand_id` None is house content.

    `duration_ms` is required for videos and not allowed for images (as in the manifest).
    """

    sha256: str
    name: str
    media_type: str
    size: int
    width: int
    height: int
    created_ms: int
    brand_id: str | None = None
    duration_ms: int | None = None

    def __post_init__(self) -> None:
        _check_sha256("creative", "sha256", self.sha256)
        what = f"creative {self.sha256[:12]}"
        if self.brand_id is not None:
            _check_brand_id(what, self.brand_id)
        _check_text(what, "name", self.name, 200)
        if self.media_type not in MEDIA_TYPES:
            _fail(what, f"media_type must be one of {list(MEDIA_TYPES)}, got {self.media_type!r}")
        _check_int(what, "size", self.size, 1, MAX_FILE_BYTES)
        _check_int(what, "width", self.width, 1, MAX_PIXELS_SIDE)
        _check_int(what, "height", self.height, 1, MAX_PIXELS_SIDE)
        is_video = self.media_type.startswith("video/")
        if is_video:
            _check_int(what, "duration_ms", self.duration_ms, 1, 24 * 3_600_000)
        elif self.duration_ms is not None:
            _fail(what, f"duration_ms is only for videos, got {self.duration_ms!r}")
        _check_ms(what, "created_ms", self.created_ms)


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A brand's campaign. `spec` is the full campaign document (validated by the scheduler).

    `revision` starts at 1 and grows by one on each stored update (optimistic concurrency).
    """

    campaign_id: str
    brand_id: str
    name: str
    spec: dict[str, Any]
    created_ms: int
    status: str = "active"
    updated_ms: int | None = None  # None: set to created_ms
    revision: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.campaign_id, str) or not CAMPAIGN_ID_RE.match(self.campaign_id):
            _fail("campaign", f"campaign_id must be 1-64 chars of A-Z a-z 0-9 _ . -, "
                              f"got {self.campaign_id!r}")
        what = f"campaign {self.campaign_id!r}"
        _check_brand_id(what, self.brand_id)
        _check_text(what, "name", self.name, 200)
        if not isinstance(self.spec, dict):
            _fail(what, f"spec must be a JSON object (dict), got {type(self.spec).__name__}")
        try:
            json.dumps(self.spec, allow_nan=False)
        except (TypeError, ValueError) as exc:
            _fail(what, f"spec must be JSON-serialisable: {exc}")
        if self.status not in CAMPAIGN_STATUSES:
            _fail(what, f"status must be one of {list(CAMPAIGN_STATUSES)}, got {self.status!r}")
        _check_ms(what, "created_ms", self.created_ms)
        if self.updated_ms is None:
            object.__setattr__(self, "updated_ms", self.created_ms)
        _check_ms(what, "updated_ms", self.updated_ms)
        assert self.updated_ms is not None
        if self.updated_ms < self.created_ms:
            _fail(what, f"updated_ms ({self.updated_ms}) is before created_ms ({self.created_ms})")
        _check_int(what, "revision", self.revision, 1, 2**31 - 1)


@dataclass(frozen=True, slots=True)
class PublishedPlaylist:
    """What the controller last pushed to a terminal, and what the terminal reported active.

    `digest` is the playlist's own digest (`Playlist.digest()`), `manifest_sha256` the hash of
    the signed manifest's bytes, `config_version` the `DesiredConfig.version` that carried it.
    `activated_digest`/`activated_ms` (both or neither) are the terminal's latest report.
    """

    device_id: str
    digest: str
    manifest_sha256: str
    config_version: int
    published_ms: int
    activated_digest: str | None = None
    activated_ms: int | None = None

    def __post_init__(self) -> None:
        _check_device_id("published playlist", self.device_id)
        what = f"published playlist of {self.device_id!r}"
        _check_sha256(what, "digest", self.digest)
        _check_sha256(what, "manifest_sha256", self.manifest_sha256)
        _check_int(what, "config_version", self.config_version, 0, 2**31 - 1)
        _check_ms(what, "published_ms", self.published_ms)
        _check_sha256(what, "activated_digest", self.activated_digest, optional=True)
        _check_ms(what, "activated_ms", self.activated_ms, optional=True)
        if (self.activated_digest is None) != (self.activated_ms is None):
            _fail(what, "activated_digest and activated_ms go together (both or neither)")

    @property
    def in_sync(self) -> bool:
        """True when the terminal reported the published playlist active."""
        return self.activated_digest == self.digest
