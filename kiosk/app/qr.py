"""A QR code on screen: `qrcode` computes the modules, Kivy draws them as one texture with
nearest-neighbour scaling (crisp edges at any size), black on a white quiet zone."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import qrcode
from kivy.graphics.texture import Texture
from kivy.uix.image import Image


def qr_modules(data: str, border: int = 4) -> npt.NDArray[np.uint8]:
    """The QR as a square array, 255 for light modules (quiet zone included)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    dark = np.array(code.get_matrix(), dtype=bool)
    return np.where(dark, 0, 255).astype(np.uint8)


class QrImage(Image):
    def __init__(self, data: str, side: float, **kwargs: Any) -> None:
        modules = qr_modules(data)
        n = modules.shape[0]
        texture = Texture.create(size=(n, n), colorfmt="luminance")
        texture.mag_filter = texture.min_filter = "nearest"
        texture.blit_buffer(np.ascontiguousarray(modules[::-1]).tobytes(),
                            colorfmt="luminance", bufferfmt="ubyte")
        super().__init__(texture=texture, size_hint=(None, None), size=(side, side),
                         fit_mode="contain", **kwargs)
        self.kiosk_role = "qr"
        self.data = data
