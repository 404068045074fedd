"""Identification end to end: real enrolled faces are recognised, strangers are rejected, a frame
with two candidate payers is refused — through the exact scan and through the ANN index alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from face_id_samples import (
    RealFaces,
    blank_720p,
    face_crop,
    kiosk_encoder,
    needs_faces,
    place,
    real_faces,
)

from broker.payments.order_input import FaceMatch
from kiosk.face.decision import (
    AMBIGUOUS,
    NO_FACE,
    SEVERAL_FACES,
    UNKNOWN,
    DecisionPolicy,
    Identified,
    Rejected,
)
from kiosk.face.gallery import Gallery
from kiosk.face.identify import identify
from kiosk.face.synthetic import new_photos, people
from kiosk.face.types import FaceFound, Frame, Vector


def enrolled_gallery(faces: RealFaces, **kw: object) -> Gallery:
    g = Gallery(**kw)  # type: ignore[arg-type]
    for person, templates in faces.enrolled.items():
        for template_id, vec in templates:
            g.add(person, template_id, vec)
    return g


class Stub:
    """An encoder that 'sees' given templates (no image work)."""

    def __init__(self, *encodings: Vector, height: int = 300) -> None:
        self.faces = [FaceFound((10, 10 + height, 10 + height, 10), e) for e in encodings]

    def __call__(self, frame: Frame) -> Sequence[FaceFound]:
        return self.faces


FRAME = np.zeros((4, 4, 3), dtype=np.uint8)


def test_a_large_gallery_asks_for_the_second_factor_and_the_controller_accepts_the_match() -> None:
    rng = np.random.default_rng(11)
    vectors = people(50, rng)
    g = Gallery()
    g.add_many([(f"member{i}", f"t{i}", v) for i, v in enumerate(vectors)])
    photo = new_photos(vectors[3:4], rng)[0]
    relaxed = identify(FRAME, Stub(photo), g, DecisionPolicy(large_gallery=51)).decision
    strict = identify(FRAME, Stub(photo), g, DecisionPolicy(large_gallery=50)).decision
    assert isinstance(relaxed, Identified) and isinstance(strict, Identified)
    assert relaxed.member_id == strict.member_id == "member3"
    assert (relaxed.needs_second_factor, strict.needs_second_factor) == (False, True)
    assert FaceMatch(**strict.checkout_face()).gallery_size == 50


def test_two_members_equally_close_are_ambiguous() -> None:
    rng = np.random.default_rng(12)
    b = people(1, rng)[0]
    g = Gallery()
    g.add("ann", "a", b)  # the same template under two members (identical twins)
    g.add("ben", "b", b)
    result = identify(FRAME, Stub(new_photos(b[None], rng)[0]), g)
    assert result.decision == Rejected(AMBIGUOUS)


def test_an_empty_frame_has_no_payer() -> None:
    result = identify(blank_720p(), Stub(), Gallery())
    assert result.decision == Rejected(NO_FACE) and result.face is None


@pytest.fixture(scope="module")
def faces() -> RealFaces:
    return real_faces()


@needs_faces
@pytest.mark.parametrize("ann", [False, True], ids=["exact", "indexed"])
def test_every_enrolled_probe_is_identified_and_the_unknown_rejected(
        faces: RealFaces, ann: bool) -> None:
    g = enrolled_gallery(faces, ann_threshold=1000 if ann else 10**9, background=False)
    if ann:  # 3,000 synthetic strangers around the same centre; the index forced on
        rng = np.random.default_rng(13)
        g.add_many([(f"s{i}", f"s{i}", v) for i, v in
                    enumerate(people(3000, rng, center=faces.center()))])
        assert g.indexed
    assert any(p.startswith("unknown") for p in faces.probes)
    for name, image in faces.probes.items():
        result = identify(image, kiosk_encoder(), g)
        expected = faces.expected(name)
        if expected is None:
            assert result.decision == Rejected(UNKNOWN), name
        else:
            assert isinstance(result.decision, Identified), (name, result.decision)
            assert result.decision.member_id == expected, name


@needs_faces
def test_the_index_and_the_exact_scan_agree_on_real_probes(faces: RealFaces) -> None:
    """Every answer that identifies someone is confirmed by the exact scan: identical."""
    rng = np.random.default_rng(14)
    strangers = [(f"s{i}", f"s{i}", v) for i, v in
                 enumerate(people(3000, rng, center=faces.center()))]
    exact = enrolled_gallery(faces, ann_threshold=10**9)
    indexed = enrolled_gallery(faces, ann_threshold=1000, background=False)
    exact.add_many(strangers)
    indexed.add_many(strangers)
    assert indexed.indexed and not exact.indexed
    for name, image in faces.probes.items():
        a = identify(image, kiosk_encoder(), exact).decision
        b = identify(image, kiosk_encoder(), indexed).decision
        assert a == b, name


def test_an_indexed_answer_that_could_be_accepted_is_confirmed_exactly() -> None:
    assert Gallery().confirm_below >= DecisionPolicy().max_distance


@needs_faces
def test_two_people_side_by_side_are_refused_but_a_distant_bystander_is_not(
        faces: RealFaces) -> None:
    enc = kiosk_encoder()
    obama = face_crop(faces.probes["obama.jpg"], enc)
    kit = face_crop(faces.probes["kit_harington.jpg"], enc)
    g = enrolled_gallery(faces)
    side_by_side = place(place(blank_720p(), obama, 420, 80, 150), kit, 420, 700, 150)
    assert identify(side_by_side, enc, g).decision == Rejected(SEVERAL_FACES)
    payer = face_crop(faces.probes["obama.jpg"], enc, pad=0.2)
    bystander = face_crop(faces.probes["kit_harington.jpg"], enc, pad=0.2)
    behind = place(place(blank_720p(), payer, 700, 40, 10), bystander, 260, 1000, 40)
    assert len(enc(behind)) == 2
    result = identify(behind, enc, g)
    assert isinstance(result.decision, Identified) and result.decision.member_id == "obama"
    assert result.face is not None and result.face.box[3] < 640
