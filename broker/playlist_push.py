"""Compile, sign and push playlists: campaigns in the database → `down/config` per terminal.

`PlaylistPublisher.async_publish()` runs the whole pass:

1. reads stores, devices, active campaigns and creatives; compiles every terminal's playlist
   for the next `hours` hours (pure scheduler, in a worker thread);
2. for each distinct playlist, builds the manifest (its files' sha256/size/type/pixels and the
   playlist), signs it with the controller's Ed25519 key and stores it under the hash of its
   bytes (terminals with the same playlist share one manifest);
3. publishes a retained `down/config` only to terminals whose playlist digest differs from the
   one last published to them, then records what was published.

Changes trigger a pass through `request()` (coalesced: many edits in a burst make one pass);
`async_run()` also passes every `refresh_s` so the rolling window of hours moves on.
Terminals report the playlist they activated in their retained state (`extra.content`),
recorded by `note_activation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import storage
from broker.content_store import ContentStore
from broker.signage import Campaign, Creative, Screen, compile_playlists
from broker.storage import reports, signage
from content.manifest import FileEntry, Manifest
from content.playlist import HOUR_MS, Playlist
from content.signing import sign_manifest
from kiosk.wire.messages import DesiredConfig, PlaylistPointer

log = logging.getLogger(__name__)

IMAGE_PLAY_MS = 10_000  # how long a still image shows per play
INLINE_MANIFEST_MAX = 256 * 1024  # smaller signed manifests travel inside down/config
PublishConfig = Callable[[str, DesiredConfig], Awaitable[None]]


@dataclass
class PushReport:
    terminals: int = 0
    playlists: int = 0
    changed: int = 0
    published: int = 0
    failed: int = 0
    skipped_reason: str | None = None
    seconds: float = 0.0
    published_ms: int = 0
    digests: dict[str, str] = field(default_factory=dict)  # device → digest pushed this pass


def creative_ref(record: signage.CreativeRecord) -> Creative:
    orientation = ("portrait" if record.height > record.width
                   else "landscape" if record.width > record.height else "any")
    return Creative(sha256=record.sha256, duration_ms=record.duration_ms or IMAGE_PLAY_MS,
                    orientation=orientation)


def file_entry(record: signage.CreativeRecord) -> FileEntry:
    return FileEntry(name=f"{record.sha256[:16]}{_suffix(record.media_type)}",
                     sha256=record.sha256, size=record.size, media_type=record.media_type,  # type: ignore[arg-type]
                     width=record.width, height=record.height, duration_ms=record.duration_ms)


def _suffix(media_type: str) -> str:
    return "." + media_type.split("/", 1)[1].replace("jpeg", "jpg")


async def load_screens(db: storage.Database) -> list[Screen]:
    stores = {s.store_id: s for s in await storage.list_stores(db)}
    screens = []
    for dev in await storage.list_devices(db):
        store = stores.get(dev.store_id)
        if store is None:
            continue
        screens.append(Screen(
            device_id=dev.device_id, store_id=store.store_id, city=store.city,
            district=store.district, format=store.format, footfall_tier=store.footfall_tier,
            tags=frozenset(store.tags), timezone=store.timezone,
            screen_inches=dev.screen_size_in, orientation=dev.orientation))
    return screens


class PlaylistPublisher:
    def __init__(
        self, db: storage.Database, content: ContentStore, key: Ed25519PrivateKey,
        publish: PublishConfig, base_url: Callable[[], str], *, hours: int = 6,
        refresh_s: float = 600.0, clock: Callable[[], float] = time.time,
        publish_concurrency: int = 200,
    ) -> None:
        self.db = db
        self.content = content
        self.key = key
        self.publish = publish
        self.base_url = base_url
        self.hours = hours
        self.refresh_s = refresh_s
        self.clock = clock
        self.publish_concurrency = publish_concurrency
        self.last: PushReport | None = None
        self._wanted = asyncio.Event()
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def request(self) -> None:
        """Ask for a pass soon (campaign, creative, store or device changed)."""
        self._wanted.set()

    async def async_run(self, settle_s: float = 0.2) -> None:
        """Pass on request (after `settle_s` of quiet, so a burst of edits is one pass) and
        every `refresh_s`."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), self.refresh_s)
            await asyncio.sleep(settle_s)
            self._wanted.clear()
            try:
                await self.async_publish()
            except Exception:  # a bad pass must not end the loop: the next one retries
                log.exception("playlist publishing failed")

    async def compile(self, now_ms: int | None = None) -> dict[str, Playlist]:
        """Every terminal's playlist for the window starting at the current hour."""
        now_ms = self.now_ms() if now_ms is None else now_ms
        screens = await load_screens(self.db)
        records = await signage.list_campaigns(self.db, status="active")
        campaigns = [Campaign.model_validate(r.spec) for r in records]
        house = [creative_ref(c) for c in await signage.list_creatives(self.db, house=True)]
        delivered = await self._delivered(campaigns, now_ms)
        if not screens:
            return {}
        return await asyncio.to_thread(compile_playlists, screens, campaigns, house, now_ms,
                                       self.hours, now_ms, delivered)

    async def _delivered(self, campaigns: Sequence[Campaign], now_ms: int) -> dict[str, int]:
        """Plays so far of campaigns with a budget (what the scheduler paces against)."""
        budgeted = [c for c in campaigns if c.budget_plays is not None]
        if not budgeted:
            return {}
        first = min(c.flight_start for c in budgeted)  # a local date: start 14 h early
        since = max(0, int(datetime.combine(first, dtime(), UTC).timestamp() * 1000) - 14 * HOUR_MS)
        totals = await reports.play_totals(self.db, campaign_ids=[c.campaign_id for c in budgeted],
                                           since_ms=since, until_ms=now_ms + 1)
        return {cid: t.impressions for cid, t in totals.items() if cid is not None}

    async def async_publish(self) -> PushReport:
        async with self._lock:
            t0 = time.perf_counter()
            report = PushReport(published_ms=self.now_ms())
            try:
                playlists = await self.compile(report.published_ms)
            except ValueError as exc:  # e.g. no house content to fill unsold time
                report.skipped_reason = str(exc)
                log.warning("playlists not published: %s", exc)
                self.last = report
                return report
            report.terminals = len(playlists)
            pointers = await self._manifests(playlists)
            report.playlists = len(pointers)
            published = await signage.get_published(self.db)
            rows = []
            sem = asyncio.Semaphore(self.publish_concurrency)

            async def push(device_id: str, pointer: PlaylistPointer, version: int) -> bool:
                async with sem:
                    try:
                        await self.publish(device_id, DesiredConfig(version=version,
                                                                    playlist=pointer))
                        return True
                    except Exception as exc:  # link down: the next pass retries this device
                        log.warning("config for %s not published: %s", device_id, exc)
                        return False

            jobs = []
            for device_id, playlist in playlists.items():
                pointer = pointers[id(playlist)]
                before = published.get(device_id)
                if before is not None and before.digest == pointer.digest:
                    continue
                version = before.config_version + 1 if before else 1
                jobs.append((device_id, pointer, version))
            report.changed = len(jobs)
            done = await asyncio.gather(*(push(*job) for job in jobs))
            for (device_id, pointer, version), ok in zip(jobs, done, strict=True):
                if ok:
                    rows.append(signage.PublishedPlaylist(
                        device_id, pointer.digest, pointer.manifest_sha256, version,
                        report.published_ms))
                    report.digests[device_id] = pointer.digest
            report.published = len(rows)
            report.failed = len(jobs) - len(rows)
            await signage.record_published(self.db, rows)
            report.seconds = round(time.perf_counter() - t0, 3)
            log.info("playlists: %d terminals, %d distinct, %d changed, %d published in %.2fs",
                     report.terminals, report.playlists, report.changed, report.published,
                     report.seconds)
            self.last = report
            return report

    async def _manifests(self, playlists: dict[str, Playlist]) -> dict[int, PlaylistPointer]:
        distinct = {id(p): p for p in playlists.values()}
        files = {c.sha256: file_entry(c) for c in await signage.list_creatives(self.db)}
        base = self.base_url().rstrip("/")

        def build() -> dict[int, PlaylistPointer]:
            out = {}
            for key, playlist in distinct.items():
                digest = playlist.digest()
                wanted = sorted(playlist.creatives())
                missing = [sha for sha in wanted if sha not in files]
                if missing:
                    raise ValueError(f"playlist plays unknown creatives {missing[:3]}")
                manifest = Manifest(package_id=f"playlist-{digest[:24]}",
                                    created_ms=playlist.hours[0].start_ms if playlist.hours else 0,
                                    files=[files[sha] for sha in wanted], playlist=playlist)
                signed = sign_manifest(manifest, self.key)
                sha = self.content.add_manifest(signed)
                text = signed.model_dump_json()
                out[key] = PlaylistPointer(
                    manifest_url=f"{base}/content/manifests/{sha}.json",
                    manifest_sha256=sha, digest=digest,
                    manifest=text if len(text) <= INLINE_MANIFEST_MAX else None)
            return out

        return await asyncio.to_thread(build)


def activation_of(state_extra: dict[str, Any]) -> str | None:
    """The playlist digest a terminal reports active in its state, if any."""
    content = state_extra.get("content")
    if isinstance(content, dict) and isinstance(content.get("playlist"), str):
        return content["playlist"]
    return None


__all__ = ["HOUR_MS", "PlaylistPublisher", "PushReport", "activation_of", "load_screens"]
