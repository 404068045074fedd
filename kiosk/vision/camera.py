"""A live camera through OpenCV (`cv2.VideoCapture`), configured from the kiosk's config.

`CameraConfig` is the `[camera]` table of the terminal's TOML config (`from_mapping`):
device index, capture size, frame rate, the pixel format asked for (USB cameras deliver
1280×720 at 30 fps only as MJPG) and how many frames the driver may buffer (1: the newest
frame, not one from a quarter-second ago). The camera may grant something else than asked:
what it granted is logged and kept in `CameraSource.granted`.

A camera that cannot be opened raises `CameraOpenError` naming the device, at construction,
so a misconfigured terminal fails at start-up with a clear message rather than showing a
black preview. A camera that stops delivering (unplugged) ends the stream: `read()` returns
None and the reason is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import cv2

from kiosk.vision.frames import Frame

log = logging.getLogger(__name__)


class CameraOpenError(RuntimeError):
    """The configured camera could not be opened."""


@dataclass(frozen=True, slots=True)
class CameraConfig:
    device: int = 0
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    fourcc: str | None = "MJPG"
    buffer_frames: int = 1
    backend: int = cv2.CAP_ANY

    def __post_init__(self) -> None:
        if self.device < 0:
            raise ValueError("camera device index must be 0 or more")
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError("camera width, height and fps must be positive")
        if self.fourcc is not None and len(self.fourcc) != 4:
            raise ValueError("camera fourcc must be four characters, e.g. MJPG")
        if self.buffer_frames < 1:
            raise ValueError("camera buffer_frames must be at least 1")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> CameraConfig:
        """A config from a TOML table; unknown keys are refused (a typo is not silent)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown camera settings: {', '.join(unknown)}")
        return cls(**dict(table))


class CameraSource:
    """Frames from a camera; `capture` is injectable (tests), default `cv2.VideoCapture`."""

    def __init__(self, config: CameraConfig, *, clock: Callable[[], float] = time.monotonic,
                 capture: Callable[[int, int], Any] = cv2.VideoCapture) -> None:
        self.config = config
        self._clock = clock
        self._index = 0
        self._cap: Any = capture(config.device, config.backend)
        if not self._cap.isOpened():
            self._cap.release()
            self._cap = None
            raise CameraOpenError(
                f"camera device {config.device} could not be opened: is it connected, is "
                f"/dev/video{config.device} there and readable by this user, and is no other "
                f"program using it?")
        self.granted = self._configure()

    def _configure(self) -> tuple[int, int, float]:
        cfg, cap = self.config, self._cap
        if cfg.fourcc is not None:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*cfg.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, cfg.buffer_frames)
        granted = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                   float(cap.get(cv2.CAP_PROP_FPS)))
        if granted[:2] != (cfg.width, cfg.height) or abs(granted[2] - cfg.fps) > 0.5:
            log.warning("camera %d: asked for %dx%d at %.0f fps, got %dx%d at %.1f fps",
                        cfg.device, cfg.width, cfg.height, cfg.fps, *granted)
        else:
            log.info("camera %d: %dx%d at %.0f fps", cfg.device, *granted)
        return granted

    def read(self) -> Frame | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        if not ok or image is None:
            log.warning("camera %d stopped delivering frames (unplugged or failed?)",
                        self.config.device)
            return None
        frame = Frame(image, self._clock(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
