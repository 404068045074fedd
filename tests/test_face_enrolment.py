"""Enrolment and deletion as a member lives them: consent first, a few good frames with feedback,
templates sealed on the terminal, found by the gallery; deleted everywhere on request."""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_enrol_samples import TinyGallery, encoder, image, person, varied
from face_id_samples import needs_faces
from hypothesis import given
from hypothesis import strategies as st

from kiosk.face.consent import NOTICE, ConsentRecord, Grant, Purpose
from kiosk.face.enrolment import (
    EnrolLimits,
    Enrolment,
    Stage,
    delete_member,
    enrol,
    purge_inactive,
)
from kiosk.face.keystore import load_or_create
from kiosk.face.quality import Refusal
from kiosk.face.templates import DAY_MS, TemplateStore
from kiosk.face.types import FaceFound, GalleryLike
from kiosk.wire.messages import Event

NOW = 1_750_000_000_000
LIMITS = EnrolLimits(frames=4, keep=3)


def consent(member: str, **kw: object) -> ConsentRecord:
    args: dict[str, object] = dict(
        member_id=member, grants=(Grant(Purpose.FACE_PAYMENT, "tick-pay"),),
        notice_version=NOTICE.version, notice_hash=NOTICE.text_hash, given_at_ms=NOW,
        declared_age=35)
    args.update(kw)
    return ConsentRecord(**args)  # type: ignore[arg-type]


def obama_frames() -> list[np.ndarray]:
    """What the camera gives while Obama enrols: a blurred frame, an empty one, then good ones."""
    a, b = person("obama")
    return [cv2.GaussianBlur(a, (0, 0), 4), np.zeros_like(a), a, b, varied(a, 1), varied(b, 1)]


def make_gallery(kind: str) -> GalleryLike:
    if kind == "tiny":
        return TinyGallery()
    try:
        return importlib.import_module("kiosk.face.gallery").Gallery(background=False)
    except ImportError as exc:  # the gallery is another module's work
        pytest.skip(f"kiosk.face.gallery not importable: {exc}")


def on_disk(data: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())


@needs_faces
@pytest.mark.parametrize("kind", ["tiny", "kiosk"])
async def test_enrol_obama_pay_by_face_then_delete_everything(tmp_path: Path, kind: str) -> None:
    key = load_or_create(tmp_path, env={})
    store = await TemplateStore.open(tmp_path / "face.sqlite", key)
    gallery = make_gallery(kind)
    feedback = []
    result = await enrol("obama", consent("obama"), obama_frames(), encoder=encoder(), store=store,
                         gallery=gallery, clock_ms=lambda: NOW, on_feedback=feedback.append,
                         limits=LIMITS)
    assert result.ok, result.problems
    assert len(result.template_ids) == LIMITS.keep and result.frames_seen == 6
    assert [f.accepted for f in feedback] == [False, False, True, True, True, True]
    assert Refusal.BLURRY in feedback[0].reasons and feedback[1].reasons == (Refusal.NO_FACE,)
    assert feedback[-1].collected == feedback[-1].needed == LIMITS.frames
    Event(seq=1, ts_ms=NOW, type=result.event()[0], data=result.event()[1])  # fits the wire

    probe = encoder()(image("probe/obama.jpg"))[0].encoding
    assert gallery.search(probe, k=1)[0].member_id == "obama"
    assert gallery.search(probe, k=1)[0].distance < 0.6
    assert await store.count("obama") == LIMITS.keep
    assert (await store.consent_for("obama")) == consent("obama")
    raw = on_disk(tmp_path)  # no image, no plaintext template, anywhere in the data dir
    assert b"\xff\xd8\xff" not in raw and b"\x89PNG" not in raw
    for face in (f for frame in obama_frames() for f in encoder()(frame)):
        plain = face.encoding.astype("<f4").tobytes()
        assert not any(plain[i:i + 16] in raw for i in range(0, len(plain), 16))
    assert {p.name for p in tmp_path.iterdir()} <= {"face.key", "face.sqlite", "face.sqlite-wal",
                                                    "face.sqlite-shm"}

    biden = await enrol("biden", consent("biden"), person("biden") * 2, encoder=encoder(),
                        store=store, gallery=gallery, clock_ms=lambda: NOW, limits=LIMITS)
    assert biden.ok, biden.problems
    done = await delete_member("obama", store=store, gallery=gallery, now_ms=NOW + 5)
    assert done.complete and done.remaining == 0
    assert (done.templates_deleted, done.gallery_removed, done.consents_withdrawn) == (
        LIMITS.keep, LIMITS.keep, 1)
    assert "已删除" in done.message("zh") and "deleted" in done.message("en")
    type_, data = done.event()
    Event(seq=2, ts_ms=NOW + 5, type=type_, data=data)
    assert type_ == "face.deleted" and data["templates_deleted"] == LIMITS.keep

    assert await store.count("obama") == 0 and await store.consent_for("obama") is None
    assert all(m.member_id != "obama" for m in gallery.search(probe, k=len(gallery) + 5))
    assert gallery.search(probe, k=1)[0].member_id == "biden"  # ... only someone else, far off
    await store.close()
    store = await TemplateStore.open(tmp_path / "face.sqlite", key)  # the terminal restarts
    again = make_gallery(kind)
    assert (await store.load_into(again, NOW)).loaded == LIMITS.keep  # biden's only
    assert all(m.member_id != "obama" for m in again.search(probe, k=5))
    await store.close()


class Refuses:
    def __call__(self, frame: np.ndarray) -> list[FaceFound]:
        raise AssertionError("a frame was looked at before consent")


async def test_no_camera_frame_is_looked_at_without_valid_consent(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", load_or_create(tmp_path, env={}))
    gallery = TinyGallery()
    frames = [np.zeros((10, 10, 3), np.uint8)]
    for bad in (consent("kid", declared_age=9),
                consent("m", grants=(Grant(Purpose.FACE_PAYMENT, "join",
                                           bundled_with=("membership_terms",)),)),
                consent("other-member")):
        result = await enrol("kid" if bad.member_id == "kid" else "m", bad, frames,
                             encoder=Refuses(), store=store, gallery=gallery,
                             clock_ms=lambda: NOW)
        assert not result.ok and result.problems
    assert await store.count() == 0 and len(gallery) == 0
    await store.close()


@needs_faces
async def test_frames_of_two_people_or_an_enrolled_face_are_refused(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", load_or_create(tmp_path, env={}))
    gallery = TinyGallery()
    mixed = [*person("obama"), *person("biden")]
    result = await enrol("mix", consent("mix"), mixed, encoder=encoder(), store=store,
                         gallery=gallery, clock_ms=lambda: NOW, limits=LIMITS)
    assert [p.code for p in result.problems] == ["different_people"]
    assert await store.count() == 0 and len(gallery) == 0
    ok = await enrol("obama", consent("obama"), obama_frames(), encoder=encoder(), store=store,
                     gallery=gallery, clock_ms=lambda: NOW, limits=LIMITS)
    assert ok.ok
    thief = await enrol("mallory", consent("mallory"), obama_frames(), encoder=encoder(),
                        store=store, gallery=gallery, clock_ms=lambda: NOW, limits=LIMITS)
    assert [p.code for p in thief.problems] == ["already_enrolled"]
    assert await store.count("mallory") == 0 and len(gallery) == 1
    blank = [np.zeros((480, 640, 3), np.uint8)] * 20
    short = await enrol("shy", consent("shy"), blank, encoder=encoder(), store=store,
                        gallery=gallery, clock_ms=lambda: NOW,
                        limits=EnrolLimits(frames=4, keep=3, max_frames=10))
    assert [p.code for p in short.problems] == ["not_enough_frames"] and short.frames_seen == 10
    await store.close()


async def test_unused_faces_are_deleted_after_the_retention_period(tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", load_or_create(tmp_path, env={}))
    gallery = TinyGallery()
    rng = np.random.default_rng(0)
    for m in ("weekly", "gone-away"):
        v = rng.normal(0, 0.1, 128).astype(np.float32)
        await store.put_member(m, [(m, v)], consent(m), NOW)
        gallery.add(m, m, v)
    await store.touch("weekly", NOW + 170 * DAY_MS)
    done = await purge_inactive(store, gallery, NOW + 181 * DAY_MS)
    assert [d.member_id for d in done] == ["gone-away"] and done[0].complete
    assert await store.count("gone-away") == 0 and await store.count("weekly") == 1
    assert len(gallery) == 1
    await store.close()


# --- the pure state machine ------------------------------------------------------------------

EYES = {"left_eye": [(430, 300), (440, 294), (452, 294), (462, 300), (452, 304), (440, 304)],
        "right_eye": [(518, 300), (528, 294), (540, 294), (550, 300), (540, 304), (528, 304)],
        "nose_bridge": [(490, 300), (490, 320), (490, 340), (490, 360)],
        "top_lip": [(460, 420)] * 7, "bottom_lip": [(520, 420)] * 7}
KINDS = ["good", "blurry", "small", "none", "two"]


def faces_for(kind: str, person_vec: np.ndarray) -> tuple[list[FaceFound], float]:
    face = FaceFound((250, 600, 550, 380), person_vec, EYES)
    return {"good": ([face], 150.0), "blurry": ([face], 5.0), "none": ([], 0.0),
            "small": ([FaceFound((250, 440, 300, 390), person_vec, EYES)], 150.0),
            "two": ([face, face], 150.0)}[kind]


@given(kinds=st.lists(st.sampled_from(KINDS), max_size=30))
def test_only_good_frames_count_and_each_refusal_says_why(kinds: list[str]) -> None:
    flow = Enrolment("m", EnrolLimits(frames=5, keep=3))
    assert flow.give_consent(consent("m")) == () and flow.stage is Stage.COLLECTING
    me = np.full(128, 0.05, np.float32)
    good = 0
    for kind in kinds:
        faces, sharp = faces_for(kind, me)
        fb = flow.offer((720, 1280), faces, sharp)
        good += kind == "good" and good < 5
        assert fb.accepted == (kind == "good") and fb.collected == good
        assert fb.accepted or fb.reasons  # a refusal always has a reason to show
    assert flow.ready == (good == 5)
    if flow.ready:
        assert len(flow.choose()) == 3


def test_without_consent_no_frame_is_taken() -> None:
    flow = Enrolment("m")
    with pytest.raises(RuntimeError):
        flow.offer((720, 1280), *faces_for("good", np.zeros(128, np.float32)))
    assert flow.give_consent(consent("m", declared_age=10))
    assert flow.stage is Stage.FAILED
