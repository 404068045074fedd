"""The enrolment quality gate: real photos pass; blurred, small, crowded or empty ones do not,
and the screen gets every reason. Pose rules are checked on transformed real landmarks."""

from __future__ import annotations

import math

import cv2
import numpy as np
from face_enrol_samples import encoder, image, landmarks
from face_id_samples import needs_faces
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.face.quality import HINTS, QualityLimits, Refusal, assess, check_frame, pose_of
from kiosk.face.types import FaceFound

OBAMA = "enroll/obama/obama.jpg"
LIMITS = QualityLimits()


def judge(frame: np.ndarray):  # the gate on what the real detector finds
    return check_frame(frame, encoder()(frame))


@needs_faces
def test_real_enrolment_photos_pass() -> None:
    for rel in (OBAMA, "enroll/rose_leslie/img2.jpg"):
        verdict = judge(image(rel))
        assert verdict.ok, (rel, verdict)


@needs_faces
def test_the_same_photo_blurred_is_refused_for_sharpness() -> None:
    sharp = judge(image(OBAMA))
    blurred = cv2.GaussianBlur(image(OBAMA), (0, 0), 3)
    verdict = judge(blurred)
    assert not verdict.ok and Refusal.BLURRY in verdict.reasons
    assert verdict.sharpness is not None and sharp.sharpness is not None
    assert verdict.sharpness < LIMITS.min_sharpness < sharp.sharpness
    assert "Please hold still" in verdict.hints("en")


@needs_faces
def test_a_face_far_away_in_a_big_frame_is_refused_as_too_small() -> None:
    small = cv2.resize(image(OBAMA), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((small.shape[0] * 3, small.shape[1] * 3, 3), 200, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    verdict = judge(canvas)
    assert Refusal.TOO_SMALL in verdict.reasons and Refusal.NO_FACE not in verdict.reasons
    assert verdict.hints("zh") == ["请靠近一些"]


@needs_faces
def test_two_faces_side_by_side_are_refused() -> None:
    left, right = image(OBAMA), image("enroll/rose_leslie/img2.jpg")
    h = min(left.shape[0], right.shape[0])
    both = np.hstack([cv2.resize(f, (round(f.shape[1] * h / f.shape[0]), h))
                      for f in (left, right)])
    verdict = judge(both)
    assert not verdict.ok and Refusal.SEVERAL_FACES in verdict.reasons


def test_a_blank_frame_is_refused_for_no_face() -> None:
    blank = np.full((720, 1280, 3), 90, np.uint8)
    assert judge(blank).reasons == (Refusal.NO_FACE,)
    assert assess((720, 1280), [], None).reasons == (Refusal.NO_FACE,)


def _moved(marks: dict, angle_deg: float, scale: float, dx: float, dy: float) -> dict:
    """Landmarks rotated about their centre by `angle_deg`, scaled and shifted."""
    pts = np.array([p for v in marks.values() for p in v], float)
    c = pts.mean(axis=0)
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = {}
    for name, v in marks.items():
        q = (np.array(v, float) - c) @ rot.T * scale + c + (dx, dy)
        out[name] = [(float(x), float(y)) for x, y in q]
    return out


@needs_faces
@settings(deadline=None)  # the first example detects the face (cached after)
@given(angle=st.floats(-60, 60), scale=st.floats(0.5, 3), dx=st.floats(-300, 300),
       dy=st.floats(-300, 300))
def test_pose_reads_roll_and_ignores_where_and_how_big_the_face_is(
        angle: float, scale: float, dx: float, dy: float) -> None:
    marks = landmarks(OBAMA)
    base = pose_of(marks)
    moved = pose_of(_moved(marks, angle, scale, dx, dy))
    assert base is not None and moved is not None
    assert math.isclose(moved.roll_deg - base.roll_deg, angle, abs_tol=1e-6)
    assert math.isclose(moved.yaw_deg, base.yaw_deg, abs_tol=1e-6)
    assert math.isclose(moved.pitch_ratio, base.pitch_ratio, rel_tol=1e-6)
    face = FaceFound((0, 2000, 2000, 0), np.zeros(128, np.float32), _moved(marks, angle, 1, 0, 0))
    refused = assess((2000, 2000), [face], 100.0).reasons
    assert (Refusal.TILTED in refused) == (abs(base.roll_deg + angle) > LIMITS.max_roll_deg)


@needs_faces
@settings(deadline=None)  # the first example detects the face (cached after)
@given(shift=st.floats(-0.8, 0.8))
def test_a_nose_off_the_eye_midpoint_reads_as_yaw_that_way(shift: float) -> None:
    marks = {k: list(v) for k, v in landmarks(OBAMA).items()}
    ied = abs(np.mean(marks["right_eye"], axis=0)[0] - np.mean(marks["left_eye"], axis=0)[0])
    base = pose_of(marks)
    x, y = marks["nose_bridge"][-1]
    marks["nose_bridge"][-1] = (x + shift * ied, y)
    pose = pose_of(marks)
    assert base is not None and pose is not None
    assert (pose.yaw_deg > base.yaw_deg) == (shift > 0) or abs(shift) < 1e-9
    face = FaceFound((0, 2000, 2000, 0), np.zeros(128, np.float32), marks)
    turned = Refusal.TURNED in assess((2000, 2000), [face], 100.0).reasons
    assert turned == (abs(pose.yaw_deg) > LIMITS.max_yaw_deg)


def test_every_refusal_has_a_hint_in_both_languages() -> None:
    for reason in Refusal:
        zh, en = HINTS[reason]
        assert zh and en and zh != en


def test_missing_landmarks_are_a_reason_not_a_crash() -> None:
    face = FaceFound((0, 300, 300, 0), np.zeros(128, np.float32), {})
    assert Refusal.NO_LANDMARKS in assess((400, 400), [face], 100.0).reasons
