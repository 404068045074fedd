"""The controller's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Conventions:
- times are UTC epoch milliseconds in BIGINT columns (`*_ms`);
- every JSON value is stored as TEXT (compact UTF-8 JSON) on both engines, through `JsonText`,
  so the two databases hold byte-identical documents; `events.data` is plain TEXT because the
  ingest path stores the payload it was given without decoding it again;
- `events` has no foreign key and no secondary index (ingest speed); its primary key
  (device_id, seq) is what deduplicates re-delivered events.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.types import TypeDecorator

COMMAND_STATUSES: tuple[str, ...] = (
    "pending",
    "received",
    "done",
    "failed",
    "rejected",
    "expired",
    "timed_out",
)
ORIENTATIONS: tuple[str, ...] = ("landscape", "portrait")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def dump_json(value: Any) -> str:
    """Compact, key-sorted JSON; non-ASCII text kept as UTF-8."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class JsonText(TypeDecorator[Any]):
    """A JSON value stored as TEXT on every engine (NULL stays SQL NULL)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dump_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


stores = Table(
    "stores",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("city", String(100), nullable=False),
    Column("district", String(100), nullable=False, server_default=""),
    Column("format", String(32), nullable=False),
    Column("footfall_tier", SmallInteger, nullable=False),
    Column("tags", JsonText, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    CheckConstraint("footfall_tier BETWEEN 1 AND 5", name="footfall_tier"),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(63), primary_key=True),
    Column(
        "store_id",
        String(64),
        ForeignKey("stores.store_id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
    Column("screen_size_in", Float, nullable=False),
    Column("orientation", String(16), nullable=False),
    Column("resolution", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("online", Boolean, nullable=False, server_default=false()),
    Column("last_seen_ms", BigInteger, nullable=True),
    Column("presence_ms", BigInteger, nullable=True),
    Column("app_version", String(64), nullable=True),
    Column("health", JsonText, nullable=True),
    Column("reported_state", JsonText, nullable=True),
    Column("config_version", Integer, nullable=True),
    CheckConstraint(_in("orientation", ORIENTATIONS), name="orientation"),
)

events = Table(
    "events",
    metadata,
    Column("device_id", String(63), nullable=False),
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("device_id", "seq"),
    # Deliberately no secondary index: an index on (type, ts_ms) cost 35-40% of SQLite batch
    # insert speed (measured); reports should read rollups or add their own index knowingly.
)

commands = Table(
    "commands",
    metadata,
    Column("cmd_id", String(64), primary_key=True),
    Column("device_id", String(63), nullable=False),
    Column("name", String(64), nullable=False),
    Column("args", JsonText, nullable=False),
    Column("issued_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", JsonText, nullable=True),
    Column("error", Text, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    CheckConstraint(_in("status", COMMAND_STATUSES), name="status"),
    CheckConstraint("expires_ms > issued_ms", name="expiry"),
    Index(None, "device_id", "issued_ms"),
    Index(None, "status", "expires_ms"),
)

# ---- signage: brands, creatives, campaigns and what each terminal was told to play ---------

CAMPAIGN_STATUSES: tuple[str, ...] = ("active", "paused", "archived")

brands = Table(
    "brands",
    metadata,
    Column("brand_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    # sha256 hex of the brand operator's bearer token; the token itself is never stored
    Column("api_token_sha256", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
)

creatives = Table(
    "creatives",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column(
        "brand_id",
        String(64),
        ForeignKey("brands.brand_id", ondelete="RESTRICT"),
        nullable=True,  # NULL: house content
        index=True,
    ),
    Column("name", String(200), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("duration_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    CheckConstraint("size > 0 AND width > 0 AND height > 0", name="dimensions"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column(
        "brand_id",
        String(64),
        ForeignKey("brands.brand_id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("spec", JsonText, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("revision", Integer, nullable=False),
    CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status"),
    CheckConstraint("revision >= 1", name="revision"),
    Index(None, "brand_id", "status"),
)

device_playlists = Table(
    "device_playlists",
    metadata,
    # no foreign key, like `commands`: the row outlives a deleted device and bulk publishing
    # never fails on one unknown id
    Column("device_id", String(63), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("config_version", Integer, nullable=False),
    Column("published_ms", BigInteger, nullable=False),
    Column("activated_digest", String(64), nullable=True),
    Column("activated_ms", BigInteger, nullable=True),
)
