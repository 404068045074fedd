"""Content packages on disk: build, sign, write, and verify what a terminal downloaded."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path

import orjson
import pytest
from content_fixtures import png_bytes, small_package

from content.hashing import CHUNK_BYTES, hash_file, sha256_file
from content.manifest import SignedManifest
from content.package import (
    MANIFEST_NAME,
    BadCreative,
    BadManifest,
    BadSignature,
    ExtraFile,
    HashMismatch,
    MissingFile,
    PackageError,
    SizeMismatch,
    UnexpectedEntry,
    build_manifest,
    build_package,
    read_signed,
    verify_directory,
    write_signed,
)
from content.playlist import Playlist, PlaylistHour, PlaylistItem
from content.probe import Limits
from content.signing import SignatureError, generate_key, key_id, sign_manifest

KEY = generate_key()
OTHER_KEY = generate_key()


@pytest.fixture
def package(tmp_path: Path) -> Path:
    directory = small_package(tmp_path / "pkg")
    build_package(directory, "pkg-1", KEY, created_ms=1_700_000_000_000)
    return directory


def first_bad(directory: Path, keys: object = None) -> PackageError:
    with pytest.raises(PackageError) as info:
        verify_directory(directory, KEY.public_key() if keys is None else keys)  # type: ignore[arg-type]
    return info.value


# -- hashing -----------------------------------------------------------------------------------


def test_hash_streams_with_progress(tmp_path: Path) -> None:
    data = os.urandom(CHUNK_BYTES * 2 + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen: list[int] = []
    assert hash_file(path, progress=seen.append) == (hashlib.sha256(data).hexdigest(), len(data))
    assert seen == [CHUNK_BYTES, 2 * CHUNK_BYTES, len(data)]
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


# -- building ----------------------------------------------------------------------------------


def test_build_lists_every_file_sorted_with_its_facts(tmp_path: Path) -> None:
    directory = small_package(tmp_path / "pkg")
    seen: list[tuple[str, int, int]] = []
    manifest = build_manifest(directory, "pkg-1", created_ms=5,
                              progress=lambda *a: seen.append(a))
    assert [f.name for f in manifest.files] == ["a-poster.png", "b-poster.png", "c-banner.jpg",
                                                "d-loop.mp4"]
    total = sum(p.stat().st_size for p in directory.iterdir())
    for entry in manifest.files:
        data = (directory / entry.name).read_bytes()
        assert entry.size == len(data)
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
    by_name = {f.name: f for f in manifest.files}
    assert (by_name["a-poster.png"].width, by_name["a-poster.png"].height) == (200, 120)
    assert by_name["c-banner.jpg"].media_type == "image/jpeg"
    assert by_name["d-loop.mp4"].media_type == "video/mp4"
    assert by_name["d-loop.mp4"].duration_ms == 3000
    assert manifest.package_id == "pkg-1" and manifest.created_ms == 5
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    assert {t for _, _, t in seen} == {total}


def test_build_refuses_what_is_not_a_flat_set_of_creatives(tmp_path: Path) -> None:
    cases = {
        "sub": lambda d: (d / "sub").mkdir(),
        "link.png": lambda d: (d / "link.png").symlink_to(d / "a-poster.png"),
        ".DS_Store": lambda d: (d / ".DS_Store").write_bytes(b"junk"),
        "my poster.png": lambda d: (d / "my poster.png").write_bytes(png_bytes()),
    }
    for i, (name, make) in enumerate(cases.items()):
        directory = small_package(tmp_path / f"pkg{i}")
        make(directory)
        with pytest.raises(UnexpectedEntry) as info:
            build_manifest(directory, "pkg")
        assert info.value.name == name
        assert name in str(info.value)


def test_build_names_the_creative_the_probe_refuses(tmp_path: Path) -> None:
    directory = small_package(tmp_path / "pkg")
    (directory / "b-poster.png").write_bytes(png_bytes()[:-20])
    with pytest.raises(BadCreative) as info:
        build_manifest(directory, "pkg")
    assert info.value.name == "b-poster.png"
    assert info.value.reason == "truncated"
    with pytest.raises(BadCreative) as info:
        build_manifest(small_package(tmp_path / "pkg2"), "pkg",
                       limits=Limits(max_video_ms=1000))
    assert (info.value.name, info.value.reason) == ("d-loop.mp4", "too_long")


def test_build_refuses_a_bad_id_an_empty_directory_and_a_foreign_playlist(tmp_path: Path) -> None:
    directory = small_package(tmp_path / "pkg")
    with pytest.raises(PackageError, match="package id"):
        build_manifest(directory, "no spaces allowed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageError, match="no creatives"):
        build_manifest(tmp_path / "empty", "pkg")
    stranger = Playlist(hours=[PlaylistHour(start_ms=0, items=[
        PlaylistItem(offset_ms=0, duration_ms=1000, creative="0" * 64)])])
    with pytest.raises(PackageError, match="playlist"):
        build_manifest(directory, "pkg", playlist=stranger)


def test_a_playlist_of_the_package_files_is_carried(tmp_path: Path) -> None:
    directory = small_package(tmp_path / "pkg")
    sha = hashlib.sha256((directory / "a-poster.png").read_bytes()).hexdigest()
    playlist = Playlist(hours=[PlaylistHour(start_ms=0, items=[
        PlaylistItem(offset_ms=0, duration_ms=10_000, creative=sha)])])
    build_package(directory, "pkg", KEY, playlist=playlist)
    assert verify_directory(directory, KEY.public_key()).playlist == playlist


def test_write_signed_is_atomic_and_rebuilding_in_place_works(package: Path) -> None:
    assert not (package / "manifest.json.tmp").exists()
    doc = orjson.loads((package / MANIFEST_NAME).read_bytes())
    assert doc["key_id"] == key_id(KEY.public_key())
    before = read_signed(package)
    # manifest.json is not a creative: building again in place gives the same file list
    again = build_manifest(package, "pkg-1", created_ms=before.manifest.created_ms)
    assert again == before.manifest
    write_signed(package, sign_manifest(again, OTHER_KEY))
    assert read_signed(package).key_id == key_id(OTHER_KEY.public_key())
    assert stat.S_IMODE((package / MANIFEST_NAME).stat().st_mode) & 0o600 == 0o600


# -- verifying ---------------------------------------------------------------------------------


def test_build_then_verify_round_trip(package: Path) -> None:
    manifest = verify_directory(package, KEY.public_key())
    assert manifest == read_signed(package).manifest
    assert len(manifest.files) == 4
    seen: list[tuple[str, int, int]] = []
    verify_directory(package, {key_id(KEY.public_key()): KEY.public_key()},
                     progress=lambda *a: seen.append(a))
    assert seen[-1][1] == seen[-1][2] == sum(f.size for f in manifest.files)


def test_a_flipped_byte_is_caught_and_the_file_named(package: Path) -> None:
    path = package / "c-banner.jpg"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    err = first_bad(package)
    assert isinstance(err, HashMismatch)
    assert err.name == "c-banner.jpg"
    assert "c-banner.jpg" in str(err)


def test_a_missing_file_is_caught(package: Path) -> None:
    (package / "b-poster.png").unlink()
    err = first_bad(package)
    assert isinstance(err, MissingFile) and err.name == "b-poster.png"


def test_a_file_of_another_size_is_caught_before_hashing(package: Path) -> None:
    with open(package / "d-loop.mp4", "ab") as f:
        f.write(b"\0")
    err = first_bad(package)
    assert isinstance(err, SizeMismatch) and err.name == "d-loop.mp4"


def test_extra_files_are_reported(package: Path) -> None:
    (package / "zz-unlisted.png").write_bytes(png_bytes())
    (package / ".hidden").write_bytes(b"x")
    err = first_bad(package)
    assert isinstance(err, ExtraFile) and err.name == ".hidden"
    assert "1 more" in str(err)
    assert len(verify_directory(package, KEY.public_key(), allow_extra=True).files) == 4


def test_a_symlink_in_place_of_a_file_is_refused(package: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes((package / "a-poster.png").read_bytes())
    (package / "a-poster.png").unlink()
    (package / "a-poster.png").symlink_to(outside)
    err = first_bad(package)
    assert isinstance(err, UnexpectedEntry) and err.name == "a-poster.png"


def test_a_manifest_resigned_with_another_key_is_refused(package: Path) -> None:
    signed = read_signed(package)
    write_signed(package, sign_manifest(signed.manifest, OTHER_KEY))
    with pytest.raises(SignatureError):
        verify_directory(package, KEY.public_key())
    # During a key rotation a terminal trusts both keys.
    both = {key_id(k.public_key()): k.public_key() for k in (KEY, OTHER_KEY)}
    assert verify_directory(package, both) == signed.manifest


def test_a_tampered_manifest_is_refused(package: Path) -> None:
    path = package / MANIFEST_NAME
    doc = orjson.loads(path.read_bytes())
    manifest = orjson.loads(doc["payload"])
    entry = next(f for f in manifest["files"] if f["name"] == "b-poster.png")
    entry["size"] += 1  # ... and make the file match the lie
    doc["payload"] = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS).decode()
    path.write_bytes(orjson.dumps(doc))
    with open(package / "b-poster.png", "ab") as f:
        f.write(b"\0")
    err = first_bad(package)
    assert isinstance(err, BadSignature) and isinstance(err, SignatureError)
    assert err.name == MANIFEST_NAME


def test_a_signature_from_one_manifest_does_not_fit_another(package: Path) -> None:
    signed = read_signed(package)
    forged = SignedManifest(manifest=signed.manifest.model_copy(update={"package_id": "evil"}),
                            key_id=signed.key_id, signature=signed.signature)
    write_signed(package, forged)
    assert isinstance(first_bad(package), BadSignature)


def test_a_missing_or_garbled_manifest_is_refused(package: Path) -> None:
    path = package / MANIFEST_NAME
    path.write_bytes(b'{"v": 1, "manifest": ')
    err = first_bad(package)
    assert isinstance(err, BadManifest) and err.name == MANIFEST_NAME
    path.write_bytes(b'{"v": 1}')
    assert isinstance(first_bad(package), BadManifest)
    path.unlink()
    err = first_bad(package)
    assert isinstance(err, BadManifest) and "missing" in str(err)


def test_package_errors_survive_pickling() -> None:
    err = pickle.loads(pickle.dumps(HashMismatch("sha256 differs", "a.png")))
    assert isinstance(err, HashMismatch) and err.name == "a.png" and str(err).startswith("a.png")
    bad = pickle.loads(pickle.dumps(BadCreative("nope", "b.png", "codec")))
    assert bad.reason == "codec"
