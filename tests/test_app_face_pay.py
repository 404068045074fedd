"""`kiosk app`'s face-pay wiring: the gallery from this terminal's sealed templates, face pay
only where someone enrolled, the face encoder built once, on first use."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from kiosk.app.face_pay import LazyEncoder, camera_pay_factory, open_face_gallery
from kiosk.face import keystore
from kiosk.face.consent import NOTICE, ConsentRecord, Grant, Purpose
from kiosk.face.synthetic import people
from kiosk.face.templates import TemplateStore


async def test_no_enrolled_faces_means_no_face_pay_and_no_face_files(tmp_path: Path) -> None:
    faces = await open_face_gallery(tmp_path, 1_000)
    assert not faces.enabled and len(faces.gallery) == 0
    assert await faces.consent_for("m-anyone00") is None
    assert list(tmp_path.iterdir()) == []  # nothing created on a terminal nobody enrolled at
    await faces.aclose()


async def test_enrolled_templates_are_decrypted_into_the_gallery_with_their_consent(
        tmp_path: Path) -> None:
    store = await TemplateStore.open(tmp_path / "face.sqlite", keystore.load_or_create(tmp_path))
    vectors = people(2, np.random.default_rng(5))
    for i, member in enumerate(("m-alice0000", "m-bob000000")):
        consent = ConsentRecord(member_id=member, grants=(Grant(Purpose.FACE_PAYMENT, "tick"),),
                                notice_version=NOTICE.version, notice_hash=NOTICE.text_hash,
                                given_at_ms=1_000, declared_age=30)
        await store.put_member(member, [(f"t{i}", vectors[i])], consent, 1_000)
    await store.close()

    faces = await open_face_gallery(tmp_path, 2_000)
    try:
        assert faces.enabled and len(faces.gallery) == 2
        best = faces.gallery.search(vectors[1], k=1)[0]
        assert best.member_id == "m-bob000000" and best.distance < 1e-5
        consent = await faces.consent_for("m-alice0000")
        assert consent is not None and Purpose.FACE_PAYMENT in consent.purposes
        made = camera_pay_factory(object(), faces, lambda: 3_000,  # type: ignore[arg-type]
                                  encoder=lambda _frame: [])
        notices: list[object] = []
        pay = made(notices.append)
        assert pay.gallery is faces.gallery and pay.on_notice == notices.append
    finally:
        await faces.aclose()


def test_the_face_encoder_is_built_once_on_first_use_from_any_thread() -> None:
    built: list[int] = []

    def make():
        built.append(1)
        return lambda frame: [frame]

    encoder = LazyEncoder(make)
    assert built == []  # nothing loaded before a face frame
    out: list[object] = []
    threads = [threading.Thread(target=lambda: out.append(encoder("f"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1] and out == [["f"]] * 8
