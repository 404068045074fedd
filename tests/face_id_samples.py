"""The real faces of `../shared/data/faces`, loaded and encoded once per test session.

Encoding costs ~0.1 s per image on 2 cores, so the images and their faces are cached here at
module level (`functools.cache`): every `test_face_*` module of identification shares them.
Layout: `enroll/<person>/<image>` and `probe/<person>[_anything].<ext>` (`unknown_*`: nobody
enrolled). Tests that need them skip with `NO_FACES` when the folder is absent.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.face.dlib_api import face_recognition
from kiosk.face.encoding import FaceEncoder
from kiosk.face.types import FaceFound, Frame, Vector

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
NO_FACES = f"real face images not found at {FACES} (the shared data folder is absent)"
needs_faces = pytest.mark.skipif(not (FACES / "enroll").is_dir() or not (FACES / "probe").is_dir(),
                                 reason=NO_FACES)


@dataclass(frozen=True)
class RealFaces:
    enrolled: dict[str, list[tuple[str, Vector]]]  # person -> [(template id, encoding)]
    probes: dict[str, Frame]  # file name -> RGB image

    def expected(self, probe: str) -> str | None:
        """The enrolled person a probe shows (its name starts with theirs), or None."""
        names = [p for p in self.enrolled if probe.startswith(p)]
        return max(names, key=len) if names else None

    def center(self) -> Vector:
        return np.mean([v for ts in self.enrolled.values() for _, v in ts], axis=0)


class MemoEncoder:
    """The kiosk's `FaceEncoder`, remembering its answer per frame content (tests only)."""

    def __init__(self, encoder: FaceEncoder) -> None:
        self.encoder = encoder
        self.calls = 0
        self._memo: dict[tuple[tuple[int, ...], bytes], Sequence[FaceFound]] = {}

    def __call__(self, frame: Frame) -> Sequence[FaceFound]:
        key = (frame.shape, hashlib.blake2b(np.ascontiguousarray(frame).data).digest())
        if key not in self._memo:
            self.calls += 1
            self._memo[key] = self.encoder(frame)
        return self._memo[key]


@functools.cache
def kiosk_encoder() -> MemoEncoder:
    return MemoEncoder(FaceEncoder())


@functools.cache
def real_faces() -> RealFaces:
    enc = kiosk_encoder()
    enrolled: dict[str, list[tuple[str, Vector]]] = {}
    for person in sorted(p for p in (FACES / "enroll").iterdir() if p.is_dir()):
        for image in sorted(person.iterdir()):
            faces = enc(face_recognition.load_image_file(str(image)))
            assert len(faces) == 1, f"{image}: expected one face, found {len(faces)}"
            enrolled.setdefault(person.name, []).append(
                (f"{person.name}/{image.name}", faces[0].encoding))
    probes = {p.name: face_recognition.load_image_file(str(p))
              for p in sorted((FACES / "probe").iterdir()) if p.is_file()}
    return RealFaces(enrolled, probes)


def face_crop(image: Frame, encoder: MemoEncoder, pad: float = 0.6) -> Frame:
    """The single face of `image` with `pad` × its size of context around it."""
    (top, right, bottom, left) = encoder(image)[0].box
    h, w = bottom - top, right - left
    y0, y1 = max(0, int(top - pad * h)), min(image.shape[0], int(bottom + pad * h))
    x0, x1 = max(0, int(left - pad * w)), min(image.shape[1], int(right + pad * w))
    return image[y0:y1, x0:x1]


def place(canvas: Frame, image: Frame, height: int, left: int, top: int) -> Frame:
    """`image` resized to `height` px and pasted into a copy of `canvas` at (left, top)."""
    width = round(image.shape[1] * height / image.shape[0])
    out = canvas.copy()
    out[top:top + height, left:left + width] = cv2.resize(image, (width, height),
                                                          interpolation=cv2.INTER_AREA)
    return out


def blank_720p(shade: int = 128) -> Frame:
    return np.full((720, 1280, 3), shade, dtype=np.uint8)
