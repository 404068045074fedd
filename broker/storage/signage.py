"""Signage storage: brands (and their operators' tokens), creatives, campaigns, and what was
published to each terminal.

- A brand operator authenticates with a bearer token; only its sha256 is stored and
  `brand_for_token` looks the brand up by that hash (no secret is compared, so no timing leak).
- Campaigns use optimistic concurrency: `update_campaign` takes the revision the caller read
  and raises `RevisionConflictError` when the stored one moved on; each update adds one.
- `record_published` writes the playlists of thousands of terminals in one transaction and
  one statement (an upsert run as a batch), never moving a device back to an older
  `config_version` (terminals ignore those too); the terminal's activation report is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import AlreadyExistsError, NotFoundError, StorageError
from broker.storage.records import _check_ms
from broker.storage.schema import brands, campaigns, creatives, device_playlists
from broker.storage.signage_records import (
    MAX_TOKEN_CHARS,
    BrandRecord,
    CampaignRecord,
    CreativeRecord,
    PublishedPlaylist,
    _check_sha256,
    token_sha256,
)

_IN_CHUNK = 5_000  # ids per IN (...) list: well under both engines' bind parameter limits


class RevisionConflictError(StorageError):
    """The campaign changed since the caller read it (stale `expected_revision`)."""

    def __init__(self, campaign_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"campaign {campaign_id!r} is at revision {actual}, not {expected}: "
            "it was changed by someone else; reload it and apply the change again"
        )
        self.campaign_id = campaign_id
        self.expected = expected
        self.actual = actual


# ---- brands ---------------------------------------------------------------------------------


async def create_brand(db: Database, brand: BrandRecord) -> None:
    """Store a new brand. `AlreadyExistsError` when the id (or the token hash) is taken."""
    try:
        async with db.write() as conn:
            taken = exists().where(
                or_(brands.c.brand_id == brand.brand_id,
                    brands.c.api_token_sha256 == brand.api_token_sha256)
            )
            if (await conn.execute(select(taken))).scalar():
                raise AlreadyExistsError(f"brand {brand.brand_id!r} (or its token) exists already")
            await conn.execute(insert(brands).values(asdict(brand)))
    except IntegrityError as exc:  # a concurrent writer (PostgreSQL) got there first
        raise AlreadyExistsError(f"brand {brand.brand_id!r} (or its token) exists already") from exc


async def get_brand(db: Database, brand_id: str) -> BrandRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(brands).where(brands.c.brand_id == brand_id))).first()
    return None if row is None else BrandRecord(**row._mapping)


async def list_brands(db: Database) -> list[BrandRecord]:
    """Every brand, ordered by brand_id."""
    async with db.read() as conn:
        rows = (await conn.execute(select(brands).order_by(brands.c.brand_id))).all()
    return [BrandRecord(**row._mapping) for row in rows]


async def brand_for_token(db: Database, token: str) -> BrandRecord | None:
    """The brand whose operator holds bearer `token`, or None (also for empty/odd input)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    query = select(brands).where(brands.c.api_token_sha256 == token_sha256(token))
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else BrandRecord(**row._mapping)


async def set_brand_token(db: Database, brand_id: str, api_token_sha256: str) -> bool:
    """Replace the brand's token hash (rotation; the old token stops working at once).

    False when the brand does not exist; `AlreadyExistsError` when another brand has that hash.
    """
    _check_sha256(f"brand {brand_id!r}", "api_token_sha256", api_token_sha256)
    stmt = (update(brands).where(brands.c.brand_id == brand_id)
            .values(api_token_sha256=api_token_sha256))
    try:
        async with db.write() as conn:
            return (await conn.execute(stmt)).rowcount == 1
    except IntegrityError as exc:
        raise AlreadyExistsError(f"brand {brand_id!r}: that token hash is in use") from exc


# ---- creatives ------------------------------------------------------------------------------


async def add_creative(db: Database, creative: CreativeRecord) -> bool:
    """Register a creative; True when new, False when the same owner stored it already.

    Creatives are content-addressed: re-uploading the same bytes is a no-op (the first record
    stays). `AlreadyExistsError` when the sha256 belongs to another brand (or to house content),
    `NotFoundError` when the brand does not exist.
    """
    try:
        async with db.write() as conn:
            owner = select(creatives.c.brand_id).where(creatives.c.sha256 == creative.sha256)
            row = (await conn.execute(owner)).first()
            if row is not None:
                if row[0] == creative.brand_id:
                    return False
                raise AlreadyExistsError(
                    f"creative {creative.sha256} belongs to {row[0] or 'house content'!r}"
                )
            if creative.brand_id is not None:
                known = exists().where(brands.c.brand_id == creative.brand_id)
                if not (await conn.execute(select(known))).scalar():
                    raise NotFoundError(
                        f"creative {creative.sha256[:12]}: brand {creative.brand_id!r} "
                        "does not exist"
                    )
            await conn.execute(insert(creatives).values(asdict(creative)))
            return True
    except IntegrityError as exc:  # a concurrent writer (PostgreSQL) got there first
        stored = await get_creative(db, creative.sha256)
        if stored is not None and stored.brand_id == creative.brand_id:
            return False
        if stored is not None:
            raise AlreadyExistsError(f"creative {creative.sha256} exists already") from exc
        raise NotFoundError(f"creative {creative.sha256[:12]}: brand {creative.brand_id!r} "
                            "does not exist") from exc


async def get_creative(db: Database, sha256: str) -> CreativeRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(select(creatives).where(creatives.c.sha256 == sha256))).first()
    return None if row is None else CreativeRecord(**row._mapping)


async def list_creatives(
    db: Database, *, brand_id: str | None = None, house: bool = False
) -> list[CreativeRecord]:
    """Creatives of `brand_id`, or house content only (`house=True`), or all; oldest first."""
    if brand_id is not None and house:
        raise ValueError("pass brand_id or house=True, not both")
    query = select(creatives).order_by(creatives.c.created_ms, creatives.c.sha256)
    if brand_id is not None:
        query = query.where(creatives.c.brand_id == brand_id)
    elif house:
        query = query.where(creatives.c.brand_id.is_(None))
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [CreativeRecord(**row._mapping) for row in rows]


# ---- campaigns ------------------------------------------------------------------------------


async def create_campaign(db: Database, campaign: CampaignRecord) -> None:
    """Store a new campaign as given (normally revision 1).

    `NotFoundError` when its brand does not exist, `AlreadyExistsError` when the id is taken.
    """
    try:
        async with db.write() as conn:
            if not (await conn.execute(
                    select(exists().where(brands.c.brand_id == campaign.brand_id)))).scalar():
                raise NotFoundError(
                    f"campaign {campaign.campaign_id!r}: brand {campaign.brand_id!r} "
                    "does not exist"
                )
            taken = exists().where(campaigns.c.campaign_id == campaign.campaign_id)
            if (await conn.execute(select(taken))).scalar():
                raise AlreadyExistsError(f"campaign {campaign.campaign_id!r} exists already")
            await conn.execute(insert(campaigns).values(asdict(campaign)))
    except IntegrityError as exc:  # a concurrent writer (PostgreSQL) got there first
        raise AlreadyExistsError(f"campaign {campaign.campaign_id!r} exists already") from exc


async def update_campaign(
    db: Database,
    campaign_id: str,
    *,
    expected_revision: int,
    updated_ms: int,
    name: str | None = None,
    spec: dict[str, Any] | None = None,
    status: str | None = None,
) -> CampaignRecord:
    """Change the given fields (None keeps one) and return the stored campaign.

    The update applies only if the stored revision is `expected_revision`; it then becomes
    `expected_revision + 1`. Raises `RevisionConflictError` otherwise, `NotFoundError` for an
    unknown campaign and `ValueError` (nothing stored) for an invalid new value.
    """
    _check_ms(f"campaign {campaign_id!r}", "updated_ms", updated_ms)
    changes: dict[str, Any] = {"updated_ms": updated_ms}
    for key, value in (("name", name), ("spec", spec), ("status", status)):
        if value is not None:
            changes[key] = value
    async with db.write() as conn:
        row = (await conn.execute(
            select(campaigns).where(campaigns.c.campaign_id == campaign_id))).first()
        if row is None:
            raise NotFoundError(f"campaign {campaign_id!r} does not exist")
        current = CampaignRecord(**row._mapping)
        if current.revision != expected_revision:
            raise RevisionConflictError(campaign_id, expected_revision, current.revision)
        new = dataclasses.replace(current, revision=current.revision + 1, **changes)  # validates
        stmt = (
            update(campaigns)
            .where(campaigns.c.campaign_id == campaign_id,
                   campaigns.c.revision == expected_revision)
            .values({k: v for k, v in asdict(new).items() if k not in ("campaign_id", "brand_id")})
        )
        if (await conn.execute(stmt)).rowcount != 1:  # a concurrent update (PostgreSQL)
            actual = (await conn.execute(select(campaigns.c.revision).where(
                campaigns.c.campaign_id == campaign_id))).scalar_one()
            raise RevisionConflictError(campaign_id, expected_revision, int(actual))
    return new


async def get_campaign(db: Database, campaign_id: str) -> CampaignRecord | None:
    query = select(campaigns).where(campaigns.c.campaign_id == campaign_id)
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else CampaignRecord(**row._mapping)


async def list_campaigns(
    db: Database, *, brand_id: str | None = None, status: str | Collection[str] | None = None
) -> list[CampaignRecord]:
    """Campaigns of `brand_id` and/or with `status` (one or several), ordered by campaign_id."""
    query = select(campaigns).order_by(campaigns.c.campaign_id)
    if brand_id is not None:
        query = query.where(campaigns.c.brand_id == brand_id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else sorted(status)
        query = query.where(campaigns.c.status.in_(wanted))
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [CampaignRecord(**row._mapping) for row in rows]


# ---- published playlists ----------------------------------------------------------------------

_PUBLISHED = ("digest", "manifest_sha256", "config_version", "published_ms")


def _published_upsert(dialect: str) -> Any:
    stmt = dialect_insert(dialect, device_playlists)
    return stmt.on_conflict_do_update(
        index_elements=["device_id"],
        set_={name: stmt.excluded[name] for name in _PUBLISHED},
        where=device_playlists.c.config_version <= stmt.excluded.config_version,
    )


async def record_published(db: Database, rows: Iterable[PublishedPlaylist]) -> None:
    """Record what was pushed to many terminals, in one transaction and one batched statement.

    A device's row is replaced unless it holds a higher `config_version` (then this row is
    skipped: the terminal would ignore an older version too). The stored activation
    (`activated_*`) is kept, and the `activated_*` fields of `rows` are ignored. For a device
    listed twice, the last row counts.
    """
    latest = {row.device_id: row for row in rows}
    if not latest:
        return
    params = [
        {"device_id": r.device_id, "digest": r.digest, "manifest_sha256": r.manifest_sha256,
         "config_version": r.config_version, "published_ms": r.published_ms}
        for _, r in sorted(latest.items())
    ]
    async with db.write() as conn:
        await conn.execute(_published_upsert(db.dialect), params)


async def get_published(
    db: Database, device_ids: Iterable[str] | None = None
) -> dict[str, PublishedPlaylist]:
    """What each device (all of them, or those of `device_ids` that have a row) was sent."""
    queries = []
    if device_ids is None:
        queries.append(select(device_playlists))
    else:
        ids = sorted(set(device_ids))
        queries.extend(
            select(device_playlists).where(device_playlists.c.device_id.in_(ids[i:i + _IN_CHUNK]))
            for i in range(0, len(ids), _IN_CHUNK)
        )
    found: dict[str, PublishedPlaylist] = {}
    async with db.read() as conn:
        for query in queries:
            for row in await conn.execute(query):
                found[row.device_id] = PublishedPlaylist(**row._mapping)
    return dict(sorted(found.items()))


_ACTIVATED = (
    update(device_playlists)
    .where(device_playlists.c.device_id == bindparam("a_id", type_=String))
    .where(or_(device_playlists.c.activated_ms.is_(None),
               device_playlists.c.activated_ms <= bindparam("a_ms", type_=BigInteger)))
    .values(activated_digest=bindparam("a_digest", type_=String),
            activated_ms=bindparam("a_ms", type_=BigInteger))
)


def _activation(device_id: str, digest: str, at_ms: int) -> dict[str, Any]:
    what = f"activation on {device_id!r}"
    _check_sha256(what, "digest", digest)
    _check_ms(what, "at_ms", at_ms)
    return {"a_id": device_id, "a_digest": digest, "a_ms": at_ms}


async def record_activated(db: Database, device_id: str, digest: str, at_ms: int) -> bool:
    """The terminal reported playlist `digest` active at `at_ms`.

    Ignored (False) when nothing was published to the device or a newer report is stored;
    the same time is applied. `digest` may differ from the published one (still switching).
    """
    params = _activation(device_id, digest, at_ms)
    async with db.write() as conn:
        return (await conn.execute(_ACTIVATED, params)).rowcount == 1


async def record_activations(db: Database, reports: Mapping[str, tuple[str, int]]) -> None:
    """`record_activated` for many devices ({device_id: (digest, at_ms)}) in one transaction."""
    params = [_activation(d, digest, at) for d, (digest, at) in sorted(reports.items())]
    if params:
        async with db.write() as conn:
            await conn.execute(_ACTIVATED, params)


def published_rows(
    device_ids: Sequence[str], digest: str, manifest_sha256: str, config_version: int,
    published_ms: int,
) -> list[PublishedPlaylist]:
    """The same published playlist for many devices (one store's screens, say)."""
    return [PublishedPlaylist(d, digest, manifest_sha256, config_version, published_ms)
            for d in device_ids]
