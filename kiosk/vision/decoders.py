"""One adapter per code decoder, all with the same shape: image in, decoded texts out.

`Decoder` takes a grayscale (H×W) or BGR (H×W×3) uint8 image and returns the texts of every
code it read, in no particular order (empty when none). Adapters are built by name with
`make(name)`; each instance owns its detector (OpenCV's are not safe to share between threads).

* `zxing-cpp` (the default, `DEFAULT_DECODER`): QR codes and Code128 (the linear format
  wallet apps show payment codes as), the library's default search options. `bench/qr.py`
  chose it: the best read rate on the generated degraded set, a few ms per 720p frame.
* `zxing-cpp-fast`: the same without rescanning downscaled and inverted copies (`ZXING_FAST`);
  faster, but it misses some large blurred codes, so it is measured, not used.
* `opencv-qr`: OpenCV `QRCodeDetector.detectAndDecode` (QR only; one code per frame: its
  `detectAndDecodeMulti` read well under half as many on the degraded set).
* `opencv-aruco`: OpenCV `QRCodeDetectorAruco.detectAndDecodeMulti` (QR only).

OpenCV's `barcode_BarcodeDetector` is not offered: it decodes EAN/UPC only, not Code128.
A decoder whose package is missing is listed by `unavailable()` with the reason instead of
failing at import, and `make_default()` falls back to the best one that is there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
Image = npt.NDArray[np.uint8]
Decoder = Callable[[Image], list[str]]

DEFAULT_DECODER = "zxing-cpp"
# The `zxing-cpp-fast` options: try_downscale rescans smaller copies (large, soft codes),
# try_invert light-on-dark ones; try_rotate (90° turns for linear codes) is kept.
ZXING_FAST: dict[str, Any] = {"try_rotate": True, "try_downscale": False, "try_invert": False}


class DecoderUnavailable(RuntimeError):
    """The named decoder cannot be built here (unknown name or its package is missing)."""


def gray(image: Image) -> Image:
    """`image` as one channel (OpenCV's SIMD conversion: faster than zxing-cpp's own)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _zxing(**options: Any) -> Decoder:
    import zxingcpp

    formats = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128)

    def decode(image: Image) -> list[str]:
        found = zxingcpp.read_barcodes(gray(image), formats=formats, **options)
        return [b.text for b in found if b.valid]

    return decode


def _opencv_classic() -> Decoder:
    detector = cv2.QRCodeDetector()

    def decode(image: Image) -> list[str]:
        try:
            text, _, _ = detector.detectAndDecode(gray(image))
        except cv2.error:  # a degenerate detection is not worth a crash
            return []
        return [text] if text else []

    return decode


def _opencv_aruco() -> Decoder:
    detector = cv2.QRCodeDetectorAruco()

    def decode(image: Image) -> list[str]:
        try:
            ok, texts, _, _ = detector.detectAndDecodeMulti(gray(image))
        except cv2.error:
            return []
        return [t for t in texts if t] if ok else []

    return decode


_FACTORIES: dict[str, Callable[[], Decoder]] = {
    "zxing-cpp": lambda: _zxing(),
    "zxing-cpp-fast": lambda: _zxing(**ZXING_FAST),
    "opencv-aruco": _opencv_aruco,
    "opencv-qr": _opencv_classic,
}
NAMES = tuple(_FACTORIES)  # best first, as measured by bench/qr.py


def make(name: str = DEFAULT_DECODER) -> Decoder:
    """A new decoder instance; DecoderUnavailable names why when it cannot be built."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise DecoderUnavailable(f"unknown decoder {name!r} (known: {', '.join(NAMES)})")
    try:
        return factory()
    except ImportError as exc:
        raise DecoderUnavailable(f"decoder {name!r} needs a missing package: {exc}") from exc
    except AttributeError as exc:  # an OpenCV build without this detector
        raise DecoderUnavailable(f"decoder {name!r} is not in this build: {exc}") from exc


def make_default() -> tuple[str, Decoder]:
    """The default decoder, or the best one that can be built here (a warning says why)."""
    for name in (DEFAULT_DECODER, *NAMES):
        try:
            decoder = make(name)
        except DecoderUnavailable as exc:
            log.warning("%s", exc)
            continue
        if name != DEFAULT_DECODER:
            log.warning("reading codes with %s instead of %s", name, DEFAULT_DECODER)
        return name, decoder
    raise DecoderUnavailable("no code decoder can be built here")


def available() -> dict[str, Decoder]:
    """Every decoder that can be built here, by name."""
    out: dict[str, Decoder] = {}
    for name in NAMES:
        try:
            out[name] = make(name)
        except DecoderUnavailable:
            continue
    return out


def unavailable() -> dict[str, str]:
    """Why each decoder that cannot be built here is missing, by name."""
    out: dict[str, str] = {}
    for name in NAMES:
        try:
            make(name)
        except DecoderUnavailable as exc:
            out[name] = str(exc)
    return out
