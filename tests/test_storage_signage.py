"""Signage storage: brands and tokens, creatives, campaigns (optimistic concurrency), and the
playlists published to terminals (bulk upsert, activation reports)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from storage_fixtures import db as db  # the fixture

from broker.storage import (
    AlreadyExistsError,
    BrandRecord,
    CampaignRecord,
    CreativeRecord,
    Database,
    NotFoundError,
    PublishedPlaylist,
    RevisionConflictError,
    add_creative,
    brand_for_token,
    create_brand,
    create_campaign,
    get_brand,
    get_campaign,
    get_creative,
    get_published,
    list_brands,
    list_campaigns,
    list_creatives,
    new_api_token,
    published_rows,
    record_activated,
    record_activations,
    record_published,
    set_brand_token,
    token_sha256,
    update_campaign,
)

T0 = 1_700_000_000_000
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64
MANIFEST = "d" * 64


def brand(brand_id: str = "acme", token: str = "acme-token") -> BrandRecord:
    return BrandRecord(brand_id, f"{brand_id.title()} Foods", token_sha256(token), T0)


def creative(sha: str = SHA_A, brand_id: str | None = "acme", **changes: Any) -> CreativeRecord:
    values: dict[str, Any] = {"sha256": sha, "name": "spring-10in.png", "media_type": "image/png",
                              "size": 123_456, "width": 1280, "height": 800, "created_ms": T0,
                              "brand_id": brand_id}
    return CreativeRecord(**(values | changes))


def campaign(campaign_id: str = "acme-spring", brand_id: str = "acme",
             **changes: Any) -> CampaignRecord:
    values: dict[str, Any] = {
        "campaign_id": campaign_id, "brand_id": brand_id, "name": "Spring sale",
        "spec": {"creatives": [SHA_A], "targets": {"city": ["上海"]}, "weight": 1.5},
        "created_ms": T0}
    return CampaignRecord(**(values | changes))


# ---- brands ---------------------------------------------------------------------------------


async def test_brands_are_stored_and_found_by_their_token(db: Database) -> None:
    token = new_api_token()
    assert len(token) >= 43 and token != new_api_token()
    acme = brand("acme", token)
    await create_brand(db, acme)
    await create_brand(db, brand("rival", "rival-token"))
    assert await get_brand(db, "acme") == acme
    assert await get_brand(db, "nobody") is None
    assert [b.brand_id for b in await list_brands(db)] == ["acme", "rival"]
    assert await brand_for_token(db, token) == acme
    assert (await brand_for_token(db, "rival-token")).brand_id == "rival"  # type: ignore[union-attr]
    for wrong in ("", token + "x", token.upper(), acme.api_token_sha256, "x" * 10_000):
        assert await brand_for_token(db, wrong) is None
    assert await brand_for_token(db, None) is None  # type: ignore[arg-type]


async def test_duplicate_brands_and_tokens_are_refused(db: Database) -> None:
    await create_brand(db, brand("acme", "t1"))
    with pytest.raises(AlreadyExistsError):
        await create_brand(db, brand("acme", "t2"))
    with pytest.raises(AlreadyExistsError):
        await create_brand(db, brand("other", "t1"))
    assert [b.brand_id for b in await list_brands(db)] == ["acme"]


async def test_a_rotated_token_replaces_the_old_one(db: Database) -> None:
    await create_brand(db, brand("acme", "old"))
    await create_brand(db, brand("rival", "rival"))
    assert await set_brand_token(db, "acme", token_sha256("new"))
    assert await brand_for_token(db, "old") is None
    assert (await brand_for_token(db, "new")).brand_id == "acme"  # type: ignore[union-attr]
    assert not await set_brand_token(db, "nobody", token_sha256("x"))
    with pytest.raises(AlreadyExistsError):
        await set_brand_token(db, "acme", token_sha256("rival"))
    with pytest.raises(ValueError):
        await set_brand_token(db, "acme", "not-a-hash")


@pytest.mark.parametrize("changes", [
    {"brand_id": ""}, {"brand_id": "bad id"}, {"brand_id": "x" * 65}, {"name": " "},
    {"api_token_sha256": "A" * 64}, {"api_token_sha256": "a" * 63}, {"created_ms": -1},
    {"created_ms": 1.5},
])
def test_brand_records_are_validated(changes: dict[str, Any]) -> None:
    values = {"brand_id": "acme", "name": "Acme", "api_token_sha256": "a" * 64, "created_ms": 1}
    with pytest.raises(ValueError):
        BrandRecord(**(values | changes))


# ---- creatives --------------------------------------------------------------------------------


async def test_creatives_by_brand_and_house_content(db: Database) -> None:
    await create_brand(db, brand("acme", "t1"))
    await create_brand(db, brand("rival", "t2"))
    video = creative(SHA_B, "acme", name="spring.mp4", media_type="video/mp4",
                     duration_ms=15_000, created_ms=T0 + 1)
    assert await add_creative(db, creative(SHA_A, "acme"))
    assert await add_creative(db, video)
    assert await add_creative(db, creative(SHA_C, None, name="store-logo.png"))
    assert await get_creative(db, SHA_B) == video
    assert await get_creative(db, "e" * 64) is None
    assert [c.sha256 for c in await list_creatives(db, brand_id="acme")] == [SHA_A, SHA_B]
    assert await list_creatives(db, brand_id="rival") == []
    assert [c.sha256 for c in await list_creatives(db, house=True)] == [SHA_C]
    assert len(await list_creatives(db)) == 3
    with pytest.raises(ValueError):
        await list_creatives(db, brand_id="acme", house=True)


async def test_the_same_bytes_are_one_creative(db: Database) -> None:
    await create_brand(db, brand("acme", "t1"))
    await create_brand(db, brand("rival", "t2"))
    assert await add_creative(db, creative(SHA_A, "acme"))
    assert not await add_creative(db, creative(SHA_A, "acme", name="renamed.png"))
    assert (await get_creative(db, SHA_A)).name == "spring-10in.png"  # type: ignore[union-attr]
    with pytest.raises(AlreadyExistsError):
        await add_creative(db, creative(SHA_A, "rival"))
    with pytest.raises(AlreadyExistsError):
        await add_creative(db, creative(SHA_A, None))
    with pytest.raises(NotFoundError):
        await add_creative(db, creative(SHA_B, "nobody"))
    assert await get_creative(db, SHA_B) is None


@pytest.mark.parametrize("changes", [
    {"sha256": "A" * 64}, {"sha256": "a" * 65}, {"media_type": "image/gif"},
    {"media_type": "video/mp4"},  # a video needs its duration
    {"duration_ms": 1_000},  # an image has none
    {"size": 0}, {"width": 0}, {"height": 16_385}, {"width": 1.5}, {"name": ""},
    {"brand_id": "no spaces"}, {"created_ms": None},
])
def test_creative_records_are_validated(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        creative(**changes)


# ---- campaigns --------------------------------------------------------------------------------


async def test_campaigns_are_created_listed_and_filtered(db: Database) -> None:
    await create_brand(db, brand("acme", "t1"))
    await create_brand(db, brand("rival", "t2"))
    spring = campaign("acme-spring")
    await create_campaign(db, spring)
    await create_campaign(db, campaign("acme-summer", status="paused"))
    await create_campaign(db, campaign("rival-1", "rival"))
    stored = await get_campaign(db, "acme-spring")
    assert stored == spring and stored.revision == 1 and stored.updated_ms == T0
    assert stored.spec == {"creatives": [SHA_A], "targets": {"city": ["上海"]}, "weight": 1.5}
    assert await get_campaign(db, "nope") is None
    ids = [c.campaign_id for c in await list_campaigns(db)]
    assert ids == ["acme-spring", "acme-summer", "rival-1"]
    assert [c.campaign_id for c in await list_campaigns(db, brand_id="acme")] == [
        "acme-spring", "acme-summer"]
    assert [c.campaign_id for c in await list_campaigns(db, status="active")] == [
        "acme-spring", "rival-1"]
    assert [c.campaign_id for c in await list_campaigns(
        db, brand_id="acme", status={"paused", "archived"})] == ["acme-summer"]
    with pytest.raises(AlreadyExistsError):
        await create_campaign(db, campaign("acme-spring"))
    with pytest.raises(NotFoundError):
        await create_campaign(db, campaign("lost", "nobody"))


async def test_updates_bump_the_revision_and_stale_ones_conflict(db: Database) -> None:
    await create_brand(db, brand())
    await create_campaign(db, campaign())
    paused = await update_campaign(db, "acme-spring", expected_revision=1, updated_ms=T0 + 5,
                                   status="paused")
    assert (paused.status, paused.revision, paused.updated_ms) == ("paused", 2, T0 + 5)
    assert paused.spec == campaign().spec and paused.name == "Spring sale"
    respec = await update_campaign(db, "acme-spring", expected_revision=2, updated_ms=T0 + 9,
                                   spec={"creatives": [SHA_B]}, name="Spring sale II")
    assert await get_campaign(db, "acme-spring") == respec
    assert (respec.revision, respec.status, respec.spec) == (3, "paused", {"creatives": [SHA_B]})

    with pytest.raises(RevisionConflictError) as conflict:
        await update_campaign(db, "acme-spring", expected_revision=2, updated_ms=T0 + 10,
                              status="archived")
    assert (conflict.value.expected, conflict.value.actual) == (2, 3)
    assert "revision 3, not 2" in str(conflict.value)
    assert await get_campaign(db, "acme-spring") == respec  # nothing changed
    with pytest.raises(NotFoundError):
        await update_campaign(db, "nope", expected_revision=1, updated_ms=T0)
    for bad in ({"status": "deleted"}, {"name": ""}, {"spec": {"x": {1, 2}}},
                {"updated_ms": T0 - 1}):
        with pytest.raises(ValueError):
            await update_campaign(db, "acme-spring", **({"expected_revision": 3,
                                                         "updated_ms": T0 + 11} | bad))
    assert await get_campaign(db, "acme-spring") == respec


async def test_concurrent_updates_from_one_revision_let_exactly_one_win(db: Database) -> None:
    await create_brand(db, brand())
    await create_campaign(db, campaign())
    results = await asyncio.gather(*(
        update_campaign(db, "acme-spring", expected_revision=1, updated_ms=T0 + i,
                        name=f"edit {i}")
        for i in range(8)
    ), return_exceptions=True)
    winners = [r for r in results if isinstance(r, CampaignRecord)]
    assert len(winners) == 1
    assert all(isinstance(r, RevisionConflictError) for r in results if r not in winners)
    assert await get_campaign(db, "acme-spring") == winners[0]
    assert winners[0].revision == 2


@pytest.mark.parametrize("changes", [
    {"campaign_id": "has space"}, {"campaign_id": ""}, {"campaign_id": "x" * 65},
    {"brand_id": ""}, {"spec": []}, {"spec": {"when": object()}}, {"spec": {"x": float("nan")}},
    {"status": "running"}, {"revision": 0}, {"revision": True}, {"updated_ms": T0 - 1},
])
def test_campaign_records_are_validated(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        campaign(**changes)


# ---- published playlists ------------------------------------------------------------------------


def device_ids(n: int) -> list[str]:
    return [f"term-{i:05d}" for i in range(n)]


async def test_publishing_to_five_thousand_terminals_at_once(db: Database) -> None:
    ids = device_ids(5_000)
    await record_published(db, published_rows(ids, SHA_A, MANIFEST, 1, T0))
    published = await get_published(db)
    assert list(published) == ids
    assert published["term-00042"] == PublishedPlaylist("term-00042", SHA_A, MANIFEST, 1, T0)
    assert not published["term-00042"].in_sync

    # the terminals report the playlist active; then a new one is published to every other one
    await record_activations(db, {d: (SHA_A, T0 + 10) for d in ids})
    await record_published(db, published_rows(ids[::2], SHA_B, MANIFEST, 2, T0 + 20))
    published = await get_published(db)
    assert len(published) == 5_000
    assert published["term-00000"] == PublishedPlaylist(
        "term-00000", SHA_B, MANIFEST, 2, T0 + 20, SHA_A, T0 + 10)  # activation kept
    assert not published["term-00000"].in_sync
    assert published["term-00001"].in_sync and published["term-00001"].config_version == 1
    assert sum(p.digest == SHA_B for p in published.values()) == 2_500

    subset = await get_published(db, ["term-00001", "term-04999", "unknown-1"])
    assert list(subset) == ["term-00001", "term-04999"]
    many = await get_published(db, device_ids(12_000))  # more ids than one IN list holds
    assert len(many) == 5_000
    assert await get_published(db, []) == {}


async def test_an_older_config_version_never_replaces_a_newer_one(db: Database) -> None:
    await record_published(db, [PublishedPlaylist("term-1", SHA_B, MANIFEST, 5, T0)])
    await record_published(db, [
        PublishedPlaylist("term-1", SHA_A, MANIFEST, 4, T0 + 1),  # older: skipped
        PublishedPlaylist("term-2", SHA_A, MANIFEST, 1, T0 + 1),
    ])
    published = await get_published(db)
    assert (published["term-1"].digest, published["term-1"].config_version) == (SHA_B, 5)
    # the same version again (a re-publish) applies; a device listed twice: the last row counts
    await record_published(db, [PublishedPlaylist("term-1", SHA_C, MANIFEST, 5, T0 + 2),
                                PublishedPlaylist("term-2", SHA_B, MANIFEST, 2, T0 + 2),
                                PublishedPlaylist("term-2", SHA_C, MANIFEST, 3, T0 + 3)])
    published = await get_published(db)
    assert published["term-1"].digest == SHA_C
    assert (published["term-2"].digest, published["term-2"].config_version) == (SHA_C, 3)
    await record_published(db, [])


async def test_activation_reports(db: Database) -> None:
    assert not await record_activated(db, "term-1", SHA_A, T0)  # nothing published yet
    await record_published(db, [PublishedPlaylist("term-1", SHA_A, MANIFEST, 1, T0)])
    assert await record_activated(db, "term-1", SHA_A, T0 + 10)
    assert (await get_published(db))["term-1"].in_sync
    assert not await record_activated(db, "term-1", SHA_B, T0 + 5)  # older report: ignored
    assert await record_activated(db, "term-1", SHA_B, T0 + 10)  # same time: applied
    published = (await get_published(db))["term-1"]
    assert (published.activated_digest, published.activated_ms) == (SHA_B, T0 + 10)
    assert not published.in_sync
    with pytest.raises(ValueError):
        await record_activated(db, "term-1", "not-a-digest", T0)
    with pytest.raises(ValueError):
        await record_activations(db, {"term-1": (SHA_A, -1)})
    await record_activations(db, {})


@pytest.mark.parametrize("args", [
    ("BAD_ID", SHA_A, MANIFEST, 1, T0), ("term-1", "x", MANIFEST, 1, T0),
    ("term-1", SHA_A, SHA_A.upper(), 1, T0), ("term-1", SHA_A, MANIFEST, -1, T0),
    ("term-1", SHA_A, MANIFEST, 1, None), ("term-1", SHA_A, MANIFEST, 1, T0, SHA_A, None),
    ("term-1", SHA_A, MANIFEST, 1, T0, None, T0),
])
def test_published_playlist_records_are_validated(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        PublishedPlaylist(*args)
