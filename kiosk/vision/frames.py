"""Camera frames and the one interface every frame source keeps.

A `Frame` carries a **BGR** uint8 image (H×W×3), OpenCV's native order, so capture and code
reading never convert. Code that needs RGB (face_recognition, a Kivy texture) calls
`Frame.rgb()`.

`FrameSource` is what the pump (`kiosk.vision.pump`) reads: `read()` returns the next frame or
None at the end (a file fully read, a camera that stopped delivering), and `close()` frees
the device or file; both are called from the pump's reader thread only. Implementations:
`kiosk.vision.camera.CameraSource` (a live camera) and `kiosk.vision.files.VideoFileSource` /
`ImageFolderSource` (recorded input, for tests, demos and diagnosing a store's footage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

BGRImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One frame: the BGR image, when it was taken and its position in the source.

    `timestamp` is in seconds on the source's own clock and only ever increases within one
    source: `time.monotonic()` at capture for a camera, the position in the recording for a
    video file, the frame number over the nominal rate for an image folder. That makes
    recorded input replay with the same timing every time (the scanner's hold window uses it).
    """

    image: BGRImage
    timestamp: float
    index: int

    def rgb(self) -> BGRImage:
        """The image in RGB channel order (a new array)."""
        return cv2.cvtColor(self.image, cv2.COLOR_BGR2RGB)


class FrameSource(Protocol):
    """Anything the pump can read frames from (see the module docstring)."""

    def read(self) -> Frame | None:
        """The next frame, or None when there are no more."""
        ...

    def close(self) -> None:
        """Free the device or file; reading after this returns None. Safe to call twice."""
        ...
