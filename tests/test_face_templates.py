"""The face key and the encrypted template store: private files, no plaintext or image on disk,
rows bound to their member, tampering quarantined (never a crash), deletion that overwrites."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from face_enrol_samples import TinyGallery
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kiosk.face import keystore
from kiosk.face.consent import NOTICE, ConsentRecord, Grant, Purpose
from kiosk.face.keystore import FaceKey, FaceKeyError
from kiosk.face.templates import DAY_MS, TemplateError, TemplateStore, seal, unseal

NOW = 1_750_000_000_000
KEY = FaceKey(bytes(range(32)), "test")


def consent(member: str, days: int = 180) -> ConsentRecord:
    return ConsentRecord(member, (Grant(Purpose.FACE_PAYMENT, "tick"),), NOTICE.version,
                         NOTICE.text_hash, NOW, declared_age=40, inactive_days=days)


def vectors(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, 128).astype(np.float32) for _ in range(n)]


def on_disk(tmp_path: Path) -> bytes:
    """Every byte SQLite has written for the store (database and WAL)."""
    return b"".join(p.read_bytes() for p in tmp_path.glob("face.sqlite*"))


# --- keystore --------------------------------------------------------------------------------

def test_the_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = keystore.load_or_create(tmp_path, env={})
    path = tmp_path / keystore.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    again = keystore.load_or_create(tmp_path, env={})
    assert again.secret == first.secret and again.key_id == first.key_id
    assert first.secret.hex() not in repr(first)
    other = keystore.load_or_create(tmp_path / "elsewhere", env={})
    assert other.secret != first.secret
    assert list(tmp_path.glob(".*tmp")) == []


def test_a_bad_key_is_a_clear_error_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / keystore.KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"short")
    os.close(fd)
    with pytest.raises(FaceKeyError, match="5 bytes"):
        keystore.load_or_create(tmp_path, env={})
    assert path.read_bytes() == b"short"  # not overwritten: that would orphan every template
    path.write_bytes(os.urandom(32))
    path.chmod(0o644)
    with pytest.raises(FaceKeyError, match="readable by others"):
        keystore.load_or_create(tmp_path, env={})
    path.unlink()
    path.mkdir(mode=0o700)
    with pytest.raises(FaceKeyError, match="cannot read"):
        keystore.load_or_create(tmp_path, env={})


def test_a_key_from_the_device_secret_store_or_environment(tmp_path: Path) -> None:
    sealed = tmp_path / "tpm" / "face.key"
    sealed.parent.mkdir()
    secret = os.urandom(32)
    fd = os.open(sealed, os.O_WRONLY | os.O_CREAT, 0o400)
    os.write(fd, secret.hex().encode() + b"\n")
    os.close(fd)
    data = tmp_path / "data"
    assert keystore.load_or_create(data, key_file=sealed, env={}).secret == secret
    env = {keystore.ENV_KEY_FILE: str(sealed)}
    assert keystore.load_or_create(data, env=env).secret == secret
    assert keystore.load_or_create(data, env={keystore.ENV_KEY: secret.hex()}).secret == secret
    assert not (data / keystore.KEY_FILE).exists()  # configured sources are never created
    with pytest.raises(FaceKeyError, match="does not exist"):
        keystore.load_or_create(data, key_file=tmp_path / "missing", env={})
    for bad in ("abcd", "x" * 32, "zz" * 32):
        with pytest.raises(FaceKeyError, match="hex"):
            keystore.load_or_create(data, env={keystore.ENV_KEY: bad})


# --- sealing ---------------------------------------------------------------------------------

finite = arrays(np.float32, 128, elements=st.floats(-1, 1, width=32))


@given(v=finite, member=st.text(min_size=1, max_size=12), tid=st.text(min_size=1, max_size=12))
def test_a_sealed_template_opens_only_for_its_member_and_id(v: np.ndarray, member: str,
                                                            tid: str) -> None:
    box = seal(KEY, member, tid, v)
    assert np.array_equal(unseal(KEY, member, tid, box), v)
    assert v.astype("<f4").tobytes() not in box
    for m, t in ((member + "x", tid), (member, tid + "x")):
        with pytest.raises(TemplateError):
            unseal(KEY, m, t, box)
    with pytest.raises(TemplateError):
        unseal(FaceKey(bytes(32), "other"), member, tid, box)
    with pytest.raises(TemplateError):
        unseal(KEY, member, tid, box[:-1] + bytes([box[-1] ^ 1]))


def test_only_finite_128_d_templates_are_sealed() -> None:
    with pytest.raises(TemplateError):
        seal(KEY, "m", "t", np.zeros(127, np.float32))
    with pytest.raises(TemplateError):
        seal(KEY, "m", "t", np.full(128, np.nan, np.float32))


# --- the store -------------------------------------------------------------------------------

async def test_templates_survive_a_restart_encrypted_and_private(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", KEY)
    vs = vectors(3, 1)
    await store.put_member("m-1", [(f"t{i}", v) for i, v in enumerate(vs)], consent("m-1"), NOW)
    for f in tmp_path.glob("face.sqlite*"):  # the database, its WAL and shared memory
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    await store.close()
    raw = on_disk(tmp_path)
    for v in vs:
        plain = v.astype("<f4").tobytes()
        assert not any(plain[i:i + 16] in raw for i in range(0, len(plain), 16))
    assert b"\xff\xd8\xff" not in raw and b"\x89PNG" not in raw
    store = await TemplateStore.open(tmp_path / "face.sqlite", KEY)
    gallery = TinyGallery()
    report = await store.load_into(gallery, NOW)
    assert report.loaded == 3 and report.quarantined == []
    assert all(np.array_equal(gallery.rows["m-1"][f"t{i}"], v) for i, v in enumerate(vs))
    assert (await store.consent_for("m-1")) == consent("m-1")
    await store.close()


async def test_a_tampered_or_moved_row_is_quarantined_not_fatal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", KEY)
    for m, seed in (("alice", 1), ("bob", 2), ("carol", 3), ("dave", 4)):
        await store.put_member(m, [(f"{m}-{i}", v) for i, v in enumerate(vectors(2, seed))],
                               consent(m), NOW)
    db = store._db
    await db.execute("UPDATE face_template SET member_id = 'bob' WHERE template_id = 'alice-0'")
    await db.execute("UPDATE face_template SET sealed = CAST(substr(sealed, 1, 20) || x'00' || "
                     "substr(sealed, 22) AS BLOB) WHERE template_id = 'carol-1'")
    await db.execute("UPDATE face_template SET sealed = substr(sealed, 1, 20) || x'ff' "
                     "WHERE template_id = 'dave-0'")  # no longer a BLOB, not even valid UTF-8
    await db.commit()
    gallery = TinyGallery()
    with caplog.at_level(logging.WARNING, logger="kiosk.face.templates"):
        report = await store.load_into(gallery, NOW)
    assert report.loaded == 5
    assert {tid for tid, _ in report.quarantined} == {"alice-0", "carol-1", "dave-0"}
    assert all("does not decrypt" in why for _, why in report.quarantined)
    assert "alice-0" in caplog.text and "carol-1" in caplog.text
    assert "alice-0" not in gallery.rows.get("bob", {}) and "carol-1" not in gallery.rows["carol"]
    assert (await store.load_into(TinyGallery(), NOW)).loaded == 5  # quarantine is not retried
    assert await store.count("bob") == 3  # the moved row is quarantined under bob's id ...
    assert await store.delete_member("bob") == 3  # ... and goes when bob's data is deleted
    await store.close()


async def test_rows_sealed_under_another_key_are_reported_as_such(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", KEY)
    await store.put_member("m", [("t", vectors(1, 5)[0])], consent("m"), NOW)
    await store.close()
    store = await TemplateStore.open(tmp_path / "face.sqlite", FaceKey(bytes(32), "new"))
    report = await store.load_into(TinyGallery(), NOW)
    assert report.loaded == 0 and "sealed under key" in report.quarantined[0][1]
    await store.close()


async def test_deleted_templates_leave_no_bytes_behind(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", KEY)
    await store.put_member("gone", [(f"g{i}", v) for i, v in enumerate(vectors(3, 7))],
                           consent("gone"), NOW)
    await store.put_member("kept", [("k0", vectors(1, 8)[0])], consent("kept"), NOW)
    async with store._db.execute("SELECT sealed FROM face_template") as cur:
        sealed = {bytes(r[0]) for r in await cur.fetchall()}
    assert all(s in on_disk(tmp_path) for s in sealed)  # the check below can see them
    assert await store.delete_member("gone") == 3
    assert await store.count("gone") == 0 and await store.count() == 1
    raw = on_disk(tmp_path)
    assert sum(s in raw for s in sealed) == 1  # only "kept"'s row is still anywhere on disk
    await store.close()


async def test_members_unused_past_their_retention_are_listed(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", KEY)
    for m, days in (("regular", 180), ("lapsed", 180), ("short", 30)):
        await store.put_member(m, [(m, vectors(1, len(m))[0])], consent(m, days), NOW)
    later = NOW + 100 * DAY_MS
    await store.touch("regular", later)
    assert await store.inactive_members(later) == ["short"]
    assert sorted(await store.inactive_members(NOW + 200 * DAY_MS)) == ["lapsed", "short"]
    await store.close()
