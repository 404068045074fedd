"""Content sync against a real local HTTP server that misbehaves on demand."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from player_fixtures import ContentServer, content_server, make_manifest, random_bytes

from content.manifest import SignedManifest
from content.signing import generate_key
from kiosk.player import ContentLibrary, ContentSync, DownloadError, HashMismatchError
from kiosk.player.download import fetch_file

KEY = generate_key()
OTHER_KEY = generate_key()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ContentServer]:
    yield from content_server(tmp_path / "server")


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False, timeout=5.0)


def make_library(tmp_path: Path, quota: int = 50_000_000) -> ContentLibrary:
    return ContentLibrary(tmp_path / "kiosk", quota, trusted_keys=KEY.public_key())


def make_sync(lib: ContentLibrary, **kw) -> ContentSync:
    return ContentSync(lib, KEY.public_key(), client_factory=client, retry_delay_s=0, **kw)


def assert_files_verified(lib: ContentLibrary) -> None:
    for f in lib.files_dir.iterdir():
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.name, f"unverified {f.name}"


async def test_first_sync_downloads_and_activates(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, entries = make_manifest(server, KEY, [300_000, 70_000, 1, 5000, 123_456])
    seen: list[tuple[int, int]] = []
    result = await make_sync(lib, progress=lambda done, total: seen.append((done, total))
                             ).apply(server.publish(raw).model_dump())
    assert result.status == "activated", result
    assert result.files_fetched == 5 and result.bytes_fetched == sum(e.size for e in entries)
    assert lib.active() == SignedManifest.model_validate_json(raw)
    assert lib.active_sha256() == hashlib.sha256(raw).hexdigest()
    assert all(lib.has(e.sha256, e.size) for e in entries)
    assert_files_verified(lib)
    assert seen[-1] == (result.bytes_fetched, result.bytes_fetched)
    assert not lib.pending_path.exists() and not list(lib.partial_dir.iterdir())


async def test_same_pointer_twice_makes_no_request(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    pointer = server.publish(make_manifest(server, KEY, [1000, 2000])[0])
    sync = make_sync(lib)
    assert (await sync.apply(pointer)).status == "activated"
    hits = len(server.requests)
    again = await sync.apply(pointer)
    assert again.status == "unchanged" and again.ok
    assert len(server.requests) == hits
    # and so after a restart over the same root
    assert (await make_sync(make_library(tmp_path)).apply(pointer)).status == "unchanged"
    assert len(server.requests) == hits


async def test_restart_keeps_the_active_manifest(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, _ = make_manifest(server, KEY, [4000])
    assert (await make_sync(lib).apply(server.publish(raw))).status == "activated"
    server.stop()
    reopened = make_library(tmp_path)
    assert reopened.active() == SignedManifest.model_validate_json(raw)


async def test_dropped_connection_resumes_with_the_remaining_bytes(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, [entry] = make_manifest(server, KEY, [400_000])
    server.faults.drop_after[entry.sha256] = 150_000
    result = await make_sync(lib).apply(server.publish(raw))
    assert result.status == "activated", result
    first, second = server.file_hits(entry.sha256)
    assert first.range is None and first.status == 200
    assert second.status == 206 and second.range is not None
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 150_000
    # the second response carried only the rest: all bytes sent = size + what was lost in flight
    assert server.bytes_sent[entry.sha256] == entry.size + (150_000 - resumed_at)
    assert result.bytes_fetched == entry.size
    assert_files_verified(lib)


async def test_partial_left_by_a_reboot_is_resumed(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    data = random_bytes(200_000)
    raw, [entry] = make_manifest(server, KEY, datas=[data])
    w = lib.open_partial(entry.sha256, 0)
    w.write(data[:120_000])
    w.close()
    result = await make_sync(make_library(tmp_path)).apply(server.publish(raw))
    assert result.status == "activated" and result.bytes_fetched == 80_000
    [hit] = server.file_hits(entry.sha256)
    assert hit.range == "bytes=120000-" and server.bytes_sent[entry.sha256] == 80_000


async def test_server_ignoring_range_restarts_the_file(tmp_path: Path,
                                                       server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, [entry] = make_manifest(server, KEY, [200_000])
    server.faults.drop_after[entry.sha256] = 50_000
    server.faults.ignore_range = True
    result = await make_sync(lib).apply(server.publish(raw))
    assert result.status == "activated", result
    assert [h.status for h in server.file_hits(entry.sha256)] == [200, 200]
    assert server.file_hits(entry.sha256)[1].range is not None
    assert_files_verified(lib)


async def test_corrupted_once_is_retried(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, [a, b] = make_manifest(server, KEY, [100_000, 3000])
    server.faults.corrupt[a.sha256] = 1
    result = await make_sync(lib).apply(server.publish(raw))
    assert result.status == "activated", result
    assert len(server.file_hits(a.sha256)) == 2 and len(server.file_hits(b.sha256)) == 1
    assert_files_verified(lib)


async def test_always_corrupted_fails_and_keeps_the_last_good(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    sync = make_sync(lib, attempts=3)
    good = server.publish(make_manifest(server, KEY, [5000], package_id="good")[0])
    assert (await sync.apply(good)).status == "activated"
    raw, [bad] = make_manifest(server, KEY, [20_000], package_id="bad")
    server.faults.corrupt_always.add(bad.sha256)
    result = await sync.apply(server.publish(raw))
    assert result.status == "failed" and result.package_id == "bad"
    assert "hash" in (result.reason or "")
    assert len(server.file_hits(bad.sha256)) == 3
    assert lib.active().manifest.package_id == "good"  # type: ignore[union-attr]
    assert not lib.has(bad.sha256) and not lib.partial_size(bad.sha256)
    assert_files_verified(lib)


async def test_fetch_file_raises_hash_mismatch_after_the_attempts(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    _, [entry] = make_manifest(server, KEY, [10_000])
    server.faults.corrupt_always.add(entry.sha256)
    async with client() as c:
        with pytest.raises(HashMismatchError):
            await fetch_file(c, f"{server.base_url}/content/files/{entry.sha256}", entry, lib,
                             attempts=2)
    assert len(server.file_hits(entry.sha256)) == 2 and not lib.has(entry.sha256)


async def test_server_errors_are_retried_then_reported(tmp_path: Path,
                                                       server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, [entry] = make_manifest(server, KEY, [10_000])
    pointer = server.publish(raw)
    async with client() as c:
        server.faults.status[500] = 5
        with pytest.raises(DownloadError, match="HTTP 500"):
            await fetch_file(c, pointer.file_url(entry.sha256), entry, lib, attempts=3)
    server.faults.status[500] = 1  # the manifest GET fails
    result = await make_sync(lib).apply(pointer)
    assert result.status == "failed" and result.reason == "manifest: HTTP 500"
    assert (await make_sync(lib).apply(pointer)).status == "activated"


async def test_manifest_signed_by_another_key_is_rejected(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, [entry] = make_manifest(server, OTHER_KEY, [1000])
    result = await make_sync(lib).apply(server.publish(raw))
    assert result.status == "rejected" and "unknown key" in (result.reason or "")
    assert lib.active() is None and not server.file_hits(entry.sha256)


async def test_tampered_manifest_is_rejected(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    sync = make_sync(lib)
    good_raw, _ = make_manifest(server, KEY, [1000], package_id="good")
    assert (await sync.apply(server.publish(good_raw))).status == "activated"
    raw, _ = make_manifest(server, KEY, [2000], package_id="pkg-2")
    evil = raw.replace(b"pkg-2", b"pkg-3")
    # served bytes differ from what the pointer names
    result = await sync.apply(server.publish(evil, sha256=hashlib.sha256(raw).hexdigest()))
    assert result.status == "rejected" and "hash" in (result.reason or "")
    # bytes and pointer agree, but the signature does not cover them
    result = await sync.apply(server.publish(evil))
    assert result.status == "rejected" and "signature" in (result.reason or "")
    result = await sync.apply(server.publish(b'{"not": "a manifest"}'))
    assert result.status == "rejected" and "malformed" in (result.reason or "")
    bad = await sync.apply({"manifest_url": "ftp://x/y", "manifest_sha256": "0" * 64})
    assert bad.status == "rejected"
    assert lib.active().manifest.package_id == "good"  # type: ignore[union-attr]


async def test_server_down_keeps_the_last_good(tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    sync = make_sync(lib)
    good = server.publish(make_manifest(server, KEY, [3000], package_id="good")[0])
    assert (await sync.apply(good)).status == "activated"
    newer = server.publish(make_manifest(server, KEY, [3000], package_id="newer")[0])
    server.stop()
    result = await sync.apply(newer)
    assert result.status == "failed" and "Connect" in (result.reason or "")
    assert lib.active().manifest.package_id == "good"  # type: ignore[union-attr]
    assert (await sync.apply(good)).status == "unchanged"  # offline: still playing


async def test_retry_after_failure_uses_the_cached_manifest(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    raw, [entry] = make_manifest(server, KEY, [3000])
    pointer = server.publish(raw)
    server.faults.corrupt_always.add(entry.sha256)  # the manifest arrives, the file never
    assert (await make_sync(lib).apply(pointer)).status == "failed"
    server.faults.corrupt_always.clear()
    assert (await make_sync(lib).apply(pointer)).status == "activated"
    manifest_hits = [h for h in server.requests if h.path.startswith("/content/manifests/")]
    assert [h.status for h in manifest_hits] == [200, 304]
    assert manifest_hits[1].if_none_match == f'"{pointer.manifest_sha256}"'


async def test_eviction_under_quota_keeps_the_active_files(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path, quota=120_000)
    sync = make_sync(lib)
    first_raw, first = make_manifest(server, KEY, [30_000, 10_000], package_id="one")
    assert (await sync.apply(server.publish(first_raw))).status == "activated"
    second_raw, second = make_manifest(server, KEY, [30_000, 20_000], package_id="two")
    assert (await sync.apply(server.publish(second_raw))).status == "activated"
    assert lib.used_bytes() == 90_000
    # third: 60 kB new next to the 50 kB active: 30 kB of the first package must go first
    third_raw, third = make_manifest(server, KEY, [40_000, 20_000], package_id="three")
    result = await sync.apply(server.publish(third_raw))
    assert result.status == "activated" and result.evicted >= 1
    assert lib.used_bytes() <= 120_000
    assert all(lib.has(e.sha256) for e in third + second)  # new active, and the previous
    assert not all(lib.has(e.sha256) for e in first)


async def test_quota_too_small_fails_and_keeps_the_old(tmp_path: Path,
                                                       server: ContentServer) -> None:
    lib = make_library(tmp_path, quota=50_000)
    sync = make_sync(lib)
    assert (await sync.apply(server.publish(
        make_manifest(server, KEY, [30_000], package_id="small")[0]))).status == "activated"
    raw, big = make_manifest(server, KEY, [25_000], package_id="big")
    result = await sync.apply(server.publish(raw))
    assert result.status == "failed" and "disk full" in (result.reason or "")
    assert lib.active().manifest.package_id == "small"  # type: ignore[union-attr]
    assert not server.file_hits(big[0].sha256)  # refused before downloading anything


async def test_a_newer_pointer_supersedes_a_running_sync(
        tmp_path: Path, server: ContentServer) -> None:
    lib = make_library(tmp_path)
    started = asyncio.Event()
    sync = make_sync(lib, progress=lambda done, total: started.set())
    shared = random_bytes(300_000)
    old_raw, [big, _] = make_manifest(server, KEY, datas=[shared, random_bytes(5000)],
                                      package_id="old")
    new_raw, _ = make_manifest(server, KEY, datas=[shared, random_bytes(1000)], package_id="new")
    old_ptr, new_ptr = server.publish(old_raw), server.publish(new_raw)
    server.faults.hold_after[big.sha256] = 64 * 1024  # the old sync stalls mid-file
    first = sync.request(old_ptr)
    assert sync.request(old_ptr) is first  # the same pointer again: the same sync
    await asyncio.wait_for(started.wait(), 10)
    result = await asyncio.wait_for(sync.request(new_ptr), 10)
    assert first.cancelled()
    assert result.status == "activated"
    assert lib.active().manifest.package_id == "new"  # type: ignore[union-attr]
    # the shared file was resumed, not fetched again from the start
    hits = server.file_hits(big.sha256)
    assert len(hits) == 2 and hits[1].status == 206
    assert_files_verified(lib)
