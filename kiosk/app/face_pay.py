"""The checkout's camera step for `kiosk app`: `CameraPay` over this terminal's face gallery.

Face pay is offered only on a terminal with enrolled faces (`face.sqlite` in its data
directory, templates sealed with its key): they are decrypted into an in-memory `Gallery` once
at start. Without that file the camera reads payment codes only. The face encoder (dlib) is
imported and built on the first face frame, in the worker thread `CameraPay` runs it in, so
neither the app's start nor the UI thread pays for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.face.consent import ConsentRecord
from kiosk.face.gallery import Gallery
from kiosk.face.remote_delete import STORE_FILE
from kiosk.face.types import Encoder, FaceFound

if TYPE_CHECKING:
    from kiosk.checkout.camera import CameraPay, Notice
    from kiosk.checkout.service import TerminalCheckout
    from kiosk.face.templates import TemplateStore


class LazyEncoder:
    """`FaceEncoder(landmarks=True)`, built on first use (importing dlib takes ~1 s)."""

    def __init__(self, make: Callable[[], Encoder] | None = None) -> None:
        self._make = make
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    def __call__(self, frame: Any) -> Sequence[FaceFound]:
        with self._lock:
            if self._encoder is None:
                if self._make is None:
                    from kiosk.face.encoding import FaceEncoder

                    self._encoder = FaceEncoder(landmarks=True)
                else:
                    self._encoder = self._make()
        return self._encoder(frame)


@dataclass
class FaceGallery:
    gallery: Gallery
    store: TemplateStore | None  # None: nobody enrolled here, no face pay

    @property
    def enabled(self) -> bool:
        return self.store is not None

    async def consent_for(self, member_id: str) -> ConsentRecord | None:
        return await self.store.consent_for(member_id) if self.store is not None else None

    async def aclose(self) -> None:
        if self.store is not None:
            await self.store.close()


async def open_face_gallery(data_dir: Path, now_ms: int) -> FaceGallery:
    gallery = Gallery()
    path = data_dir / STORE_FILE
    if not path.exists():
        return FaceGallery(gallery, None)
    from kiosk.face import keystore
    from kiosk.face.templates import TemplateStore

    store = await TemplateStore.open(path, keystore.load_or_create(data_dir))
    await store.load_into(gallery, now_ms)
    return FaceGallery(gallery, store)


def camera_pay_factory(checkout: TerminalCheckout, faces: FaceGallery,
                       now_ms: Callable[[], int], encoder: Encoder | None = None,
                       ) -> Callable[[Callable[[Notice], None]], CameraPay]:
    """What `Services.camera_pay` wants: a `CameraPay` given where its notices go."""

    def make(notify: Callable[[Notice], None]) -> CameraPay:
        from kiosk.checkout.camera import CameraPay
        from kiosk.vision.scanner import CodeScanner

        async def used(member_id: str) -> None:
            if faces.store is not None:
                await faces.store.touch(member_id, now_ms())

        return CameraPay(checkout, scanner=CodeScanner(), encoder=encoder or LazyEncoder(),
                         gallery=faces.gallery, consents=faces.consent_for, on_notice=notify,
                         on_face_used=used)

    return make
