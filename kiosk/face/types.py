"""Types shared by the face modules (no I/O, no dlib import)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]  # one 128-d template
Frame = npt.NDArray[np.uint8]  # H×W×3 RGB
Box = tuple[int, int, int, int]  # (top, right, bottom, left) in full-frame pixels, like dlib
Point = tuple[int, int]


@dataclass(frozen=True, slots=True)
class FaceFound:
    """One face in a frame: where it is, its template, and (when asked for) its landmarks."""

    box: Box
    encoding: Vector
    landmarks: dict[str, list[Point]] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


class Encoder(Protocol):
    """Finds the faces in an RGB frame and encodes each one."""

    def __call__(self, frame: Frame) -> Sequence[FaceFound]: ...


@dataclass(frozen=True, slots=True)
class Match:
    member_id: str
    distance: float


class GalleryLike(Protocol):
    """What enrolment and deletion need from the 1:N gallery (`kiosk.face.gallery`)."""

    def __len__(self) -> int: ...

    def add(self, member_id: str, template_id: str, vector: Vector) -> None: ...

    def remove_member(self, member_id: str) -> int:
        """Drop every template of `member_id`; return how many were removed."""
        ...

    def search(self, vector: Vector, k: int = 2) -> list[Match]:
        """The nearest *members* (one entry per member, best template), nearest first."""
        ...
