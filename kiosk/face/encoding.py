"""Faces in a camera frame: HOG detection on a downscaled copy, 128-d encodings at full size.

FIELD-NOTES "Faces": HOG detection costs 0.47 s on a 720p frame (2 cores), most of the
identification budget, and grows with the pixel count; the encoding itself is ~60 ms per face.
So detection runs on a copy `detect_width` pixels wide (640 → a quarter of the pixels of 720p),
the boxes are scaled back, and `face_recognition.face_encodings` runs on the full-resolution
frame with those boxes (`known_face_locations`: no second detection), so the template sees every
pixel of the face. HOG finds faces from ~80 px tall in the image it is given: at 640 px wide
that is ~160 px in a 720p frame — a payer at arm's length from a kiosk camera (200–400 px);
someone further back in the queue is not detected at all, which is what checkout wants.

The encodings use face_recognition's defaults (5-point alignment, one jitter): enrolment and
identification must use the same settings, or the distances of FIELD-NOTES no longer hold.
`landmarks=True` adds the 68-point landmarks (liveness and quality need the eyes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.face.dlib_api import face_recognition
from kiosk.face.types import Box, FaceFound, Frame, Point


@dataclass(slots=True)
class EncodeTimings:
    """Where the time of the last call went, in milliseconds."""

    detect_ms: float = 0.0
    encode_ms: float = 0.0
    landmarks_ms: float = 0.0


def scale_box(box: Box, scale: float, height: int, width: int) -> Box:
    """A (top, right, bottom, left) box found on a copy scaled by 1/`scale`, in the original's
    pixels, clipped to the frame."""
    top, right, bottom, left = (round(c * scale) for c in box)
    return (min(max(top, 0), height), min(max(right, 0), width),
            min(max(bottom, 0), height), min(max(left, 0), width))


@dataclass
class FaceEncoder:
    """The terminal's `Encoder`: every face in an RGB frame, largest first.

    `detect_width=None` detects at full resolution (enrolment photos taken from a file);
    `upsample` > 0 finds smaller faces at ~3× the detection cost per step.
    """

    detect_width: int | None = 640
    upsample: int = 0
    num_jitters: int = 1
    landmarks: bool = False
    last: EncodeTimings = field(default_factory=EncodeTimings)

    def __call__(self, frame: Frame) -> Sequence[FaceFound]:
        frame = _rgb(frame)
        height, width = frame.shape[:2]
        t0 = time.perf_counter()
        small, scale = self._downscaled(frame)
        found = face_recognition.face_locations(small, number_of_times_to_upsample=self.upsample,
                                                model="hog")
        boxes = [b for b in (scale_box(b, scale, height, width) for b in found)
                 if b[2] > b[0] and b[1] > b[3]]
        boxes.sort(key=lambda b: (b[2] - b[0], b[1] - b[3]), reverse=True)
        t1 = time.perf_counter()
        encodings = face_recognition.face_encodings(frame, known_face_locations=boxes,
                                                    num_jitters=self.num_jitters) if boxes else []
        t2 = time.perf_counter()
        marks: list[dict[str, list[Point]]] = [{} for _ in boxes]
        if self.landmarks and boxes:
            marks = [{name: [(int(x), int(y)) for x, y in pts] for name, pts in m.items()}
                     for m in face_recognition.face_landmarks(frame, boxes, model="large")]
        t3 = time.perf_counter()
        self.last = EncodeTimings(detect_ms=(t1 - t0) * 1e3, encode_ms=(t2 - t1) * 1e3,
                                  landmarks_ms=(t3 - t2) * 1e3)
        return [FaceFound(box=b, encoding=np.asarray(e, dtype=np.float32), landmarks=m)
                for b, e, m in zip(boxes, encodings, marks, strict=True)]

    def _downscaled(self, frame: Frame) -> tuple[Frame, float]:
        width = frame.shape[1]
        if self.detect_width is None or width <= self.detect_width:
            return frame, 1.0
        scale = width / self.detect_width
        size = (self.detect_width, max(1, round(frame.shape[0] / scale)))
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale


def _rgb(frame: Frame) -> Frame:
    """An H×W×3 uint8 C-contiguous array (dlib refuses anything else); grey is expanded."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"frame must be H×W×3 RGB, got shape {arr.shape}")
    return np.ascontiguousarray(arr)
