"""The ad stage: what `Playback` says is on screen, full window, cross-faded.

Images are Kivy `Image`s of the library file. Videos play through Kivy's core video provider
(ffpyplayer, from `kivy[media]`), looping until the playlist item ends; the provider keeps
one texture per video and blits every frame into it. A new creative fades in over the old one
(`FADE_S`), then the old one is stopped and dropped, so at most two are ever loaded.

`first_frame_s` (monotonic) is when the first creative's first frame had been drawn — the
cold-start figure of `bench/kiosk.py`; `fade_frames` / `fade_seconds` count frames drawn
during cross-fades (its frame rate during transitions).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.image import Image

from kiosk.app import memory

log = logging.getLogger(__name__)
FADE_S = 0.4


class VideoLayer(Image):
    def __init__(self, path: Path, **kwargs: Any) -> None:
        from kivy.core.video import Video as CoreVideo

        super().__init__(fit_mode="contain", **kwargs)
        self.path = path
        self._video: Any = CoreVideo(filename=str(path), eos="loop")
        self._video.bind(on_frame=self._on_frame)
        self._video.play()

    def _on_frame(self, *_: Any) -> None:
        texture = self._video.texture
        if texture is not None and self.texture is not texture:
            self.texture = texture
        self.canvas.ask_update()

    def stop(self) -> None:
        if self._video is not None:
            self._video.unbind(on_frame=self._on_frame)
            self._video.stop()
            self._video.unload()
            self._video = None


class AdStage(FloatLayout):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.current: Image | None = None
        self.current_key: tuple[str, str] | None = None
        self.shown = 0
        self.first_frame_s: float | None = None
        self.fade_frames = 0
        self.fade_seconds = 0.0
        self._fading = 0
        self._counter: Any = None

    def show(self, path: Path, media_type: str) -> None:
        key = (str(path), media_type)
        if key == self.current_key and self.current is not None:
            return
        try:
            layer: Image = (VideoLayer(path) if media_type.startswith("video/")
                            else Image(source=str(path), fit_mode="contain", nocache=False))
        except Exception:  # a file the decoder refuses: keep what is on screen
            log.exception("stage: cannot show %s (%s)", path.name, media_type)
            return
        layer.kiosk_role = "media"
        layer.creative = path.name
        old, self.current, self.current_key = self.current, layer, key
        self.shown += 1
        if old is None:
            self.add_widget(layer)
            self._await_first_frame(layer)
            return
        layer.opacity = 0
        self.add_widget(layer)
        anim = Animation(opacity=1, duration=FADE_S)
        anim.bind(on_complete=lambda *_: self._faded(old))
        self._fading += 1
        if self._counter is None:
            self._counter = Clock.schedule_interval(self._count, 0)
        anim.start(layer)

    def clear(self) -> None:
        """Stop and drop every layer (the screen is taken by checkout)."""
        for child in list(self.children):
            Animation.cancel_all(child)
            self._drop(child)
        self.current = self.current_key = None
        self._fading = 0

    def _faded(self, old: Image) -> None:
        self._drop(old)
        self._fading = max(0, self._fading - 1)

    def _drop(self, layer: Any) -> None:
        if isinstance(layer, VideoLayer):
            layer.stop()
        if layer.parent is self:
            self.remove_widget(layer)
        if isinstance(layer, VideoLayer):
            memory.trim()  # its decoder's frame buffers: back to the system (memory.py)

    def _count(self, dt: float) -> bool:
        if not self._fading:
            self._counter = None
            return False
        self.fade_frames += 1
        self.fade_seconds += dt
        return True

    def _await_first_frame(self, layer: Image) -> None:
        def check(_dt: float) -> bool:
            if self.first_frame_s is not None:
                return False
            if layer.texture is None:
                return True
            # the texture exists now; the frame that draws it is the next one
            Clock.schedule_once(lambda *_: self._first(), 0)
            return False

        Clock.schedule_interval(check, 0)

    def _first(self) -> None:
        if self.first_frame_s is None:
            self.first_frame_s = time.monotonic()
