"""Small creatives made on the spot for the content tests (images with Pillow, MP4 with OpenCV).

Import what a test needs: `from content_fixtures import png_bytes, write_mp4, small_package`.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def picture(size: tuple[int, int] = (160, 96), seed: int = 0) -> Image.Image:
    """An RGB image with some structure (so encoders produce more than a few bytes)."""
    rng = np.random.default_rng(seed)
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    noise = rng.integers(0, 40, (h, w, 3)).astype(np.float32)
    arr = np.clip(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2) + noise, 0, 255)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (160, 96), seed: int = 0) -> bytes:
    return encode(picture(size, seed), "PNG")


def jpeg_bytes(size: tuple[int, int] = (160, 96), seed: int = 0) -> bytes:
    return encode(picture(size, seed), "JPEG", quality=85)


def webp_bytes(size: tuple[int, int] = (160, 96), seed: int = 0) -> bytes:
    return encode(picture(size, seed), "WEBP", quality=80)


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_with_header(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A structurally valid 1-bit greyscale PNG; with `idat` None the pixels are all zero.

    At 9000x9000 the whole file is a few kilobytes that would decode to 81 megapixels: the
    shape of a decompression bomb.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    if idat is None:
        row = bytes(1 + (width + 7) // 8)
        comp = zlib.compressobj(9)
        idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def write_mp4(path: Path, *, size: tuple[int, int] = (160, 96), frames: int = 30,
              fps: float = 10.0, fourcc: str = "mp4v") -> Path:
    """A short video of a moving square; returns `path` (raises if OpenCV cannot write it)."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path.suffix}")
    try:
        for i in range(frames):
            frame = np.full((h, w, 3), (40, 90, 160), np.uint8)
            x = (i * 7) % (w - 20)
            frame[h // 3: h // 3 + 20, x: x + 20] = (255, 255, 255)
            writer.write(frame)
    finally:
        writer.release()
    return path


def small_package(directory: Path) -> Path:
    """A package directory with two PNGs, a JPEG and an MP4 (no manifest yet)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "b-poster.png").write_bytes(png_bytes((120, 200), seed=1))
    (directory / "a-poster.png").write_bytes(png_bytes((200, 120), seed=2))
    (directory / "c-banner.jpg").write_bytes(jpeg_bytes((256, 144), seed=3))
    write_mp4(directory / "d-loop.mp4")
    return directory
