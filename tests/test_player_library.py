"""The player's content library on disk, and the pure eviction / pointer decisions."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content.manifest import FileEntry, Manifest, SignedManifest
from content.signing import SignatureError, generate_key, sign_manifest
from kiosk.player import (
    ContentLibrary,
    ContentPointer,
    DiskFullError,
    HashMismatchError,
    MissingFilesError,
)
from kiosk.player.plan import StoredFile, choose_evictions, missing_files

KEY = generate_key()
OTHER_KEY = generate_key()


def entry_for(data: bytes, name: str) -> FileEntry:
    return FileEntry(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                     media_type="image/png", width=800, height=600)


def signed_for(blobs: list[bytes], package_id: str = "pkg", key=KEY) -> SignedManifest:
    entries = [entry_for(b, f"f{i}.png") for i, b in enumerate(blobs)]
    return sign_manifest(Manifest(package_id=package_id, created_ms=1, files=entries), key)


def put(lib: ContentLibrary, data: bytes) -> str:
    """Store bytes the way a download does: partial file, then the verified rename."""
    sha = hashlib.sha256(data).hexdigest()
    w = lib.open_partial(sha, 0)
    w.write(data)
    w.close()
    lib.commit_partial(sha, sha)
    return sha


def library(root: Path, quota: int = 10_000_000) -> ContentLibrary:
    return ContentLibrary(root, quota, trusted_keys=KEY.public_key())


# -- pure decisions ------------------------------------------------------------------------


def test_pointer_parses_the_config_object_and_builds_file_urls() -> None:
    sha = "a" * 64
    p = ContentPointer.parse({"manifest_url": f"http://10.0.0.5:8080/content/manifests/{sha}.json",
                              "manifest_sha256": sha, "future_field": 1})
    assert p.base_url == "http://10.0.0.5:8080"
    assert p.file_url("b" * 64) == f"http://10.0.0.5:8080/content/files/{'b' * 64}"
    with pytest.raises(ValueError):
        ContentPointer.parse({"manifest_url": "file:///etc/passwd", "manifest_sha256": sha})
    with pytest.raises(ValueError):
        ContentPointer.parse({"manifest_url": "http://x/m.json", "manifest_sha256": "nothex"})


def test_missing_files_dedupes_by_hash() -> None:
    a, b = b"a" * 10, b"b" * 10
    entries = [entry_for(a, "x.png"), entry_for(a, "y.png"), entry_for(b, "z.png")]
    manifest = Manifest(package_id="p", created_ms=1, files=entries)
    have = {hashlib.sha256(b).hexdigest()}
    assert [e.name for e in missing_files(manifest, lambda s, n: s in have)] == ["x.png"]


def test_evictions_take_oldest_first_and_spare_protected_and_kept() -> None:
    stored = [StoredFile("a", 100, 1.0), StoredFile("b", 100, 5.0), StoredFile("c", 100, 2.0),
              StoredFile("d", 100, 0.5)]
    assert choose_evictions(stored, quota_bytes=400) == []
    assert choose_evictions(stored, quota_bytes=300, protected={"d"}) == ["a"]
    assert choose_evictions(stored, quota_bytes=250, protected={"d"}, keep={"a"}) == ["c", "b"]
    # the previous manifest's files go last, whatever their age
    assert choose_evictions(stored, quota_bytes=300, last_resort={"d", "a"}) == ["c"]
    assert choose_evictions(stored, quota_bytes=400, incoming_bytes=150) == ["d", "a"]
    with pytest.raises(DiskFullError) as err:
        choose_evictions(stored, quota_bytes=150, protected={"a", "b"})
    assert err.value.needed_bytes == 200 and err.value.quota_bytes == 150


@given(st.lists(st.tuples(st.integers(1, 1000), st.floats(0, 1e9), st.booleans()), max_size=20),
       st.integers(0, 20_000), st.integers(0, 5000))
def test_evictions_fit_the_quota_or_say_disk_full(files, quota, incoming) -> None:
    stored = [StoredFile(f"{i:064x}", size, t) for i, (size, t, _) in enumerate(files)]
    protected = {f.sha256 for f, (_, _, p) in zip(stored, files, strict=True) if p}
    try:
        victims = choose_evictions(stored, quota_bytes=quota, protected=protected,
                                   incoming_bytes=incoming)
    except DiskFullError:
        kept = sum(f.size for f in stored if f.sha256 in protected)
        assert kept + incoming > quota
        return
    assert not set(victims) & protected
    left = sum(f.size for f in stored if f.sha256 not in victims)
    assert left + incoming <= quota
    if victims:  # no more than needed: without the last victim it would not fit
        last = next(f for f in stored if f.sha256 == victims[-1])
        assert left + last.size + incoming > quota


# -- files ---------------------------------------------------------------------------------


def test_verified_files_only(tmp_path: Path) -> None:
    lib = library(tmp_path)
    sha = put(lib, b"hello")
    assert lib.has(sha) and lib.has(sha, 5) and not lib.has(sha, 6)
    assert lib.path(sha).read_bytes() == b"hello"
    bad = hashlib.sha256(b"other").hexdigest()
    w = lib.open_partial(bad, 0)
    w.write(b"not other")
    w.close()
    with pytest.raises(HashMismatchError):
        lib.commit_partial(bad, hashlib.sha256(b"not other").hexdigest())
    assert not lib.has(bad) and not lib.partial_path(bad).exists()
    with pytest.raises(ValueError):
        lib.path("../../etc/passwd")


def test_deep_verify_removes_a_file_corrupted_on_disk(tmp_path: Path) -> None:
    lib = library(tmp_path)
    data = os.urandom(1000)
    sha = put(lib, data)
    assert lib.verify_file(entry_for(data, "a.png"))
    lib.path(sha).write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # always a change
    assert not lib.verify_file(entry_for(data, "a.png"))
    assert not lib.has(sha)


def test_disk_full_while_writing_is_disk_full_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lib = library(tmp_path)
    blobs = [b"one"]
    put(lib, blobs[0])

    def no_space(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(DiskFullError):
        lib.activate(signed_for(blobs))
    monkeypatch.undo()
    assert lib.active() is None
    assert not list(tmp_path.glob(".*.tmp"))


# -- manifests -----------------------------------------------------------------------------


def test_activate_needs_every_file_and_a_good_signature(tmp_path: Path) -> None:
    lib = library(tmp_path)
    blobs = [b"one", b"two"]
    put(lib, blobs[0])
    with pytest.raises(MissingFilesError):
        lib.activate(signed_for(blobs))
    put(lib, blobs[1])
    with pytest.raises(SignatureError):
        lib.activate(signed_for(blobs, key=OTHER_KEY))
    assert lib.active() is None
    signed = signed_for(blobs)
    sha = lib.activate(signed)
    assert lib.active() == signed
    assert lib.active_sha256() == sha == hashlib.sha256(lib.active_path.read_bytes()).hexdigest()


def test_active_survives_a_restart_and_previous_is_kept(tmp_path: Path) -> None:
    lib = library(tmp_path)
    first, second = signed_for([put_b(lib, b"a")], "one"), signed_for([put_b(lib, b"b")], "two")
    lib.activate(first)
    lib.activate(second)
    again = library(tmp_path)
    assert again.active() == second
    assert SignedManifest.model_validate_json(again.previous_path.read_bytes()) == first


def put_b(lib: ContentLibrary, data: bytes) -> bytes:
    put(lib, data)
    return data


@pytest.mark.parametrize("damage", [
    lambda raw: raw[: len(raw) // 2],  # half-written
    lambda raw: b"",
    lambda raw: raw.replace(b"pkg-new", b"pkg-bad"),  # signature no longer verifies
])
def test_damaged_active_falls_back_to_previous(tmp_path: Path, damage) -> None:
    lib = library(tmp_path)
    old = signed_for([put_b(lib, b"old")], "pkg-old")
    new = signed_for([put_b(lib, b"new")], "pkg-new")
    lib.activate(old)
    lib.activate(new)
    lib.active_path.write_bytes(damage(lib.active_path.read_bytes()))
    reopened = library(tmp_path)
    assert reopened.active() == old
    loaded = reopened.current()
    assert loaded is not None and loaded.source == "previous"
    # activating again repairs active.json and keeps the good previous
    reopened.activate(new)
    assert reopened.current().source == "active"  # type: ignore[union-attr]
    assert reopened.active() == new
    assert SignedManifest.model_validate_json(reopened.previous_path.read_bytes()) == old


def test_no_playlist_when_nothing_good_is_left(tmp_path: Path) -> None:
    lib = library(tmp_path)
    assert lib.active() is None
    old = signed_for([put_b(lib, b"old")], "pkg-old")
    lib.activate(old)
    lib.activate(signed_for([put_b(lib, b"new")], "pkg-new"))
    lib.active_path.write_bytes(b"{garbage")
    lib.path(hashlib.sha256(b"old").hexdigest()).unlink()  # previous is incomplete
    assert lib.active() is None


def test_stale_temp_files_from_a_power_cut_are_cleaned(tmp_path: Path) -> None:
    lib = library(tmp_path)
    signed = signed_for([put_b(lib, b"x")])
    lib.activate(signed)
    (tmp_path / ".active.json.123.tmp").write_bytes(b'{"half')
    again = library(tmp_path)
    assert again.active() == signed
    assert not list(tmp_path.glob(".*.tmp"))


# -- eviction ------------------------------------------------------------------------------


def test_evict_keeps_active_files_and_removes_oldest_unused(tmp_path: Path) -> None:
    lib = library(tmp_path, quota=3000)
    active = [os.urandom(1000)]
    lib.activate(signed_for([put_b(lib, active[0])]))
    old1, old2 = os.urandom(1000), os.urandom(1000)
    s1, s2 = put(lib, old1), put(lib, old2)
    lib.touch(s1, at=1_000)
    lib.touch(s2, at=2_000)
    lib.touch(hashlib.sha256(active[0]).hexdigest(), at=0)  # oldest, but active
    assert lib.evict() == []  # 3000 bytes: fits
    assert lib.evict(incoming_bytes=500) == [s1]
    assert lib.has(hashlib.sha256(active[0]).hexdigest()) and lib.has(s2) and not lib.has(s1)


def test_evict_drops_partials_not_kept(tmp_path: Path) -> None:
    lib = library(tmp_path)
    sha = "c" * 64
    w = lib.open_partial(sha, 0)
    w.write(b"partial")
    w.close()
    lib.evict(keep={sha})
    assert lib.partial_size(sha) == 7
    lib.evict()
    assert lib.partial_size(sha) == 0


def test_make_room_refuses_content_that_cannot_fit_next_to_the_active(tmp_path: Path) -> None:
    lib = library(tmp_path, quota=2500)
    active = signed_for([put_b(lib, os.urandom(1000))], "one")
    lib.activate(active)
    too_big = signed_for([os.urandom(1000), os.urandom(1000)], "two")
    with pytest.raises(DiskFullError) as err:
        lib.make_room(too_big.manifest)
    assert err.value.needed_bytes == 3000
    assert "quota" in str(err.value)
    assert lib.active() == active
