"""The camera preview on the code and face screens: frames from a `FrameSource` are read by a
`FramePump` (its own threads) and the newest one is copied into ONE reused texture on the UI
clock (a new texture per frame leaks: FIELD-NOTES). Mirrored, as shoppers expect."""

from __future__ import annotations

import threading
from typing import Any

from kivy.clock import Clock
from kivy.graphics.texture import Texture
from kivy.uix.image import Image

from kiosk.vision.frames import Frame, FrameSource
from kiosk.vision.pump import FramePump


class CameraPreview(Image):
    def __init__(self, source: FrameSource | None, fps: float = 30.0, **kwargs: Any) -> None:
        super().__init__(fit_mode="contain", **kwargs)
        self.kiosk_role = "camera"
        self.frames_shown = 0
        self.textures_made = 0
        self._guard = threading.Lock()
        self._latest: Frame | None = None
        self._pump = FramePump(source, self._sink, name="preview").start() if source else None
        self._tick = Clock.schedule_interval(self._blit, 1 / fps)

    def _sink(self, frame: Frame | None) -> None:
        if frame is not None:
            with self._guard:
                self._latest = frame

    def _blit(self, _dt: float) -> None:
        with self._guard:
            frame, self._latest = self._latest, None
        if frame is None:
            return
        h, w = frame.image.shape[:2]
        texture = self.texture
        if texture is None or tuple(texture.size) != (w, h):
            texture = Texture.create(size=(w, h), colorfmt="rgb")
            texture.flip_vertical()
            texture.flip_horizontal()
            self.textures_made += 1
        texture.blit_buffer(frame.image.tobytes(), colorfmt="bgr", bufferfmt="ubyte")
        if self.texture is not texture:
            self.texture = texture
        self.canvas.ask_update()
        self.frames_shown += 1

    def stop(self) -> None:
        self._tick.cancel()
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
