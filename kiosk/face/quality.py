"""Is this frame good enough to enrol from? A gate on numbers, with every reason it says no.

A template made from a small, blurred, turned or crowded face matches its owner badly later and
may match someone else, so enrolment takes only frames that pass. The gate looks at what the
detector found (boxes and the 68 dlib landmarks as face_recognition names them) and at one
sharpness number for the face crop; it never sees more of the image than `sharpness()` reads.

Pose comes from landmarks alone (no 3-D model), good to a few degrees near frontal:
- yaw: how far the nose tip (dlib point 30, the last `nose_bridge` point) sits from the eye
  midpoint along the eye line, in inter-eye distances, turned into degrees with a nose depth of
  `NOSE_DEPTH` inter-eye distances. Positive = nose towards the image's right.
- roll: the angle of the line between the eye centres.
- pitch (rough): eye line→nose tip over nose tip→mouth centre, measured across the eye line;
  about 0.7–1.4 for a level head, smaller looking up, larger looking down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import cv2
import numpy as np

from kiosk.face.types import Box, Frame, Point

NOSE_DEPTH = 0.7  # nose tip in front of the eye plane, in inter-eye distances (typical adult)
CROP_SIDE = 160  # sharpness is measured on the face crop resized to this, so it is scale-free


class Refusal(StrEnum):
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "too_small"
    BLURRY = "blurry"
    TURNED = "turned"
    TILTED = "tilted"
    PITCHED = "pitched"
    NO_LANDMARKS = "no_landmarks"


HINTS: dict[Refusal, tuple[str, str]] = {  # (zh, en) for the screen
    Refusal.NO_FACE: ("请正对摄像头", "Please face the camera"),
    Refusal.SEVERAL_FACES: ("画面中只能有一个人", "Only one person in the picture, please"),
    Refusal.TOO_SMALL: ("请靠近一些", "Please come a little closer"),
    Refusal.BLURRY: ("请保持不动", "Please hold still"),
    Refusal.TURNED: ("请正视屏幕，不要侧脸", "Please look straight at the screen"),
    Refusal.TILTED: ("请把头摆正", "Please keep your head upright"),
    Refusal.PITCHED: ("请平视，不要抬头或低头", "Please keep your chin level"),
    Refusal.NO_LANDMARKS: ("请正对摄像头", "Please face the camera"),
}


class HasGeometry(Protocol):
    """What the gate needs of a detected face (`FaceFound` has it)."""

    @property
    def box(self) -> Box: ...

    @property
    def landmarks(self) -> dict[str, list[Point]]: ...


@dataclass(frozen=True, slots=True)
class Pose:
    yaw_deg: float
    roll_deg: float
    pitch_ratio: float


@dataclass(frozen=True, slots=True)
class QualityLimits:
    min_face_px: int = 80  # dlib's encoder works on a 150 px chip; smaller faces are upscaled
    min_face_share: float = 0.12  # face height / shorter frame side: the member is close enough
    min_sharpness: float = 40.0  # Laplacian variance of the 160 px crop; sharp faces are 200+
    max_yaw_deg: float = 25.0
    max_roll_deg: float = 20.0
    pitch_ratio: tuple[float, float] = (0.5, 2.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    reasons: tuple[Refusal, ...]
    face: int | None = None  # index of the face judged (the largest)
    pose: Pose | None = None
    sharpness: float | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons

    def hints(self, lang: str = "zh") -> list[str]:
        i = 0 if lang == "zh" else 1
        return list(dict.fromkeys(HINTS[r][i] for r in self.reasons))


def _centre(points: Sequence[Point]) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).mean(axis=0)


def pose_of(landmarks: Mapping[str, Sequence[Point]]) -> Pose | None:
    """Yaw, roll and a rough pitch from face_recognition's landmark dict; None if incomplete."""
    try:
        left, right = _centre(landmarks["left_eye"]), _centre(landmarks["right_eye"])
        tip = np.asarray(landmarks["nose_bridge"][-1], dtype=np.float64)
        lips = list(landmarks["top_lip"][:7]) + list(landmarks["bottom_lip"][:7])
        mouth = _centre(lips)
    except (KeyError, IndexError, ValueError):
        return None
    eye_line = right - left
    ied = float(np.hypot(*eye_line))
    if ied < 1.0:
        return None
    along = eye_line / ied
    across = np.array([-along[1], along[0]])  # points down the face when the head is upright
    mid = (left + right) / 2
    offset = float(np.dot(tip - mid, along)) / ied
    upper = float(np.dot(tip - mid, across))
    lower = float(np.dot(mouth - tip, across))
    pitch = upper / lower if lower > 0.5 else math.inf
    return Pose(yaw_deg=math.degrees(math.atan2(offset, NOSE_DEPTH)),
                roll_deg=math.degrees(math.atan2(eye_line[1], eye_line[0])),
                pitch_ratio=pitch)


def sharpness(frame: Frame, box: Box) -> float:
    """Variance of the Laplacian of the face crop (grey, resized to CROP_SIDE): low = blurred."""
    top, right, bottom, left = box
    h, w = frame.shape[:2]
    crop = frame[max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _largest(faces: Sequence[HasGeometry]) -> int:
    return max(range(len(faces)), key=lambda i: faces[i].box[2] - faces[i].box[0])


def assess(frame_hw: tuple[int, int], faces: Sequence[HasGeometry], sharp: float | None,
           limits: QualityLimits = QualityLimits()) -> Verdict:
    """Judge the largest face of a frame `frame_hw` (height, width) pixels big; `sharp` is its
    `sharpness()`. Reports every failed rule, so the screen can say what to fix."""
    if not faces:
        return Verdict((Refusal.NO_FACE,))
    reasons: list[Refusal] = []
    if len(faces) > 1:
        reasons.append(Refusal.SEVERAL_FACES)
    i = _largest(faces)
    top, _, bottom, _ = faces[i].box
    height = bottom - top
    if height < limits.min_face_px or height < limits.min_face_share * min(frame_hw):
        reasons.append(Refusal.TOO_SMALL)
    if sharp is None or sharp < limits.min_sharpness:
        reasons.append(Refusal.BLURRY)
    pose = pose_of(faces[i].landmarks)
    if pose is None:
        reasons.append(Refusal.NO_LANDMARKS)
    else:
        if abs(pose.yaw_deg) > limits.max_yaw_deg:
            reasons.append(Refusal.TURNED)
        if abs(pose.roll_deg) > limits.max_roll_deg:
            reasons.append(Refusal.TILTED)
        low, high = limits.pitch_ratio
        if not low <= pose.pitch_ratio <= high:
            reasons.append(Refusal.PITCHED)
    return Verdict(tuple(reasons), face=i, pose=pose, sharpness=sharp)


def check_frame(frame: Frame, faces: Sequence[HasGeometry],
                limits: QualityLimits = QualityLimits()) -> Verdict:
    """`assess` with the sharpness of the largest face measured on `frame`."""
    sharp = sharpness(frame, faces[_largest(faces)].box) if faces else None
    return assess(frame.shape[:2], faces, sharp, limits)
