"""Real faces for the enrolment, quality and liveness tests, detected and encoded once a session.

A small `Encoder` built on face_recognition directly (full-resolution HOG detection, 68-point
landmarks, default encodings), remembering its answer per frame content: each image costs
0.1–0.5 s on 2 cores, and several test modules share them. Tests that need the images skip with
`NO_FACES` when `../shared/data/faces` is absent. `TinyGallery` is a minimal `GalleryLike`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.face.dlib_api import face_recognition
from kiosk.face.types import FaceFound, Frame, Match, Point, Vector

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
NO_FACES = f"real face images not found at {FACES} (the shared data folder is absent)"
needs_faces = pytest.mark.skipif(not (FACES / "enroll").is_dir(), reason=NO_FACES)


class MemoEncoder:
    """face_recognition's detector + encoder + 68 landmarks; one real run per distinct frame."""

    def __init__(self) -> None:
        self.calls = 0
        self._memo: dict[tuple[tuple[int, ...], bytes], list[FaceFound]] = {}

    def __call__(self, frame: Frame) -> Sequence[FaceFound]:
        frame = np.ascontiguousarray(frame)
        key = (frame.shape, hashlib.blake2b(frame.data).digest())
        if key not in self._memo:
            self.calls += 1
            boxes = face_recognition.face_locations(frame)
            encs = face_recognition.face_encodings(frame, boxes)
            marks = face_recognition.face_landmarks(frame, boxes)
            self._memo[key] = [
                FaceFound(tuple(b), np.asarray(e, np.float32),  # type: ignore[arg-type]
                          {k: [(int(x), int(y)) for x, y in v] for k, v in m.items()})
                for b, e, m in zip(boxes, encs, marks, strict=True)]
        return self._memo[key]


@functools.cache
def encoder() -> MemoEncoder:
    return MemoEncoder()


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
