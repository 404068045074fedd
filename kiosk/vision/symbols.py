"""Drawing QR codes and Code128 barcodes as crisp grayscale images (pure, no I/O).

Used to build the test/benchmark frames (`degrade`) and test fixtures; the terminal itself
never draws codes here. QR codes come from `qrcode` (error correction M, as the controller
draws receipt codes); Code128 bars come from zxing-cpp's writer, which the terminal already
depends on for reading, so no drawing package is added for barcodes. Images are uint8, dark
modules 0 and light 255, with the quiet zone each symbology needs (4 modules for QR, 10 for
Code128).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import qrcode  # type: ignore[import-untyped]
import zxingcpp
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped]

Gray = npt.NDArray[np.uint8]
QR_QUIET_MODULES = 4
CODE128_QUIET_MODULES = 10
BAR_HEIGHT_RATIO = 0.3  # bar height / symbol width, like a wallet app's payment barcode


def qr_modules(text: str) -> npt.NDArray[np.bool_]:
    """The QR code's module matrix for `text` (True = dark), without quiet zone."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def code128_modules(text: str) -> npt.NDArray[np.bool_]:
    """The Code128 bar pattern for `text` (True = bar), one entry per module, no quiet zone."""
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128)
    image = np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=1, add_quiet_zones=False))
    return np.asarray(image[0] < 128)


def render_qr(text: str, module_px: int) -> Gray:
    """`text` as a QR image at `module_px` pixels per module, quiet zone included."""
    if module_px < 1:
        raise ValueError("module_px must be at least 1")
    modules = np.pad(qr_modules(text), QR_QUIET_MODULES, constant_values=False)
    image = np.where(modules, 0, 255).astype(np.uint8)
    return np.kron(image, np.ones((module_px, module_px), dtype=np.uint8))


def render_code128(text: str, module_px: int) -> Gray:
    """`text` as a Code128 barcode image at `module_px` pixels per narrowest bar."""
    if module_px < 1:
        raise ValueError("module_px must be at least 1")
    bars = np.pad(code128_modules(text), CODE128_QUIET_MODULES, constant_values=False)
    row = np.repeat(np.where(bars, 0, 255).astype(np.uint8), module_px)
    height = max(8 * module_px, round(BAR_HEIGHT_RATIO * row.size))
    return np.tile(row, (height, 1))
