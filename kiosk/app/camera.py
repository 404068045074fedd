"""The camera preview on the code and face screens: the newest frame of the app's one camera
(`CameraFeed.latest`, read by its own pump threads) is copied into ONE reused texture on the
UI clock (a new texture per frame leaks: FIELD-NOTES). Mirrored, as shoppers expect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.graphics.texture import Texture
from kivy.uix.image import Image

from kiosk.vision.frames import Frame


class CameraPreview(Image):
    def __init__(self, latest: Callable[[], Frame | None], fps: float = 30.0,
                 **kwargs: Any) -> None:
        super().__init__(fit_mode="contain", **kwargs)
        self.kiosk_role = "camera"
        self.frames_shown = 0
        self.textures_made = 0
        self._latest = latest
        self._tick = Clock.schedule_interval(self._blit, 1 / fps)

    def _blit(self, _dt: float) -> None:
        frame = self._latest()
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
