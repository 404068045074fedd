"""Real faces for the enrolment, quality and liveness tests, detected and encoded once a session.

The kiosk's `FaceEncoder` (full-resolution HOG detection, 68-point landmarks) behind
`face_id_samples.MemoEncoder`, which remembers its answer per frame content: each image costs
0.1–0.5 s on 2 cores, and several test modules share them. Tests that need the images skip with
`NO_FACES` when `../shared/data/faces` is absent. `TinyGallery` is a minimal `GalleryLike`.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from face_id_samples import FACES, MemoEncoder

from kiosk.face.dlib_api import face_recognition
from kiosk.face.encoding import FaceEncoder
from kiosk.face.types import Frame, Match, Point, Vector


@functools.cache
def encoder() -> MemoEncoder:
    """Full-resolution detection with the 68 landmarks: enrolment photos come from files."""
    return MemoEncoder(FaceEncoder(detect_width=None, landmarks=True))


@functools.cache
def image(rel: str) -> Frame:
    """An RGB image of the shared set, e.g. "enroll/obama/obama.jpg" (read-only array)."""
    img = face_recognition.load_image_file(str(FACES / rel))
    img.setflags(write=False)
    return img


def person(name: str) -> list[Frame]:
    return [image(str(p.relative_to(FACES))) for p in sorted((FACES / "enroll" / name).iterdir())]


def landmarks(rel: str) -> dict[str, list[Point]]:
    faces = encoder()(image(rel))
    assert len(faces) == 1, f"{rel}: expected one face"
    return faces[0].landmarks


def varied(frame: Frame, k: int) -> Frame:
    """Another 'camera frame' of the same scene: brightness and a small shift differ."""
    shifted = np.roll(frame, shift=(3 * k, -2 * k), axis=(0, 1))
    return cv2.convertScaleAbs(shifted, alpha=1.0 + 0.04 * k, beta=-3 * k)


class TinyGallery:
    """Exact-scan `GalleryLike` for tests: member -> {template id: vector}."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Vector]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, member_id: str, template_id: str, vector: Vector) -> None:
        self.rows.setdefault(member_id, {})[template_id] = np.asarray(vector, np.float32)

    def remove_member(self, member_id: str) -> int:
        return len(self.rows.pop(member_id, {}))

    def search(self, vector: Vector, k: int = 2) -> list[Match]:
        best = [Match(m, float(min(np.linalg.norm(v - vector) for v in ts.values())))
                for m, ts in self.rows.items() if ts]
        return sorted(best, key=lambda m: m.distance)[:k]
