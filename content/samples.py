"""Sample creatives for the demo, drawn locally (never downloaded) and deterministic per seed.

For each brand: a portrait PNG poster (1080x1920) and a landscape JPEG poster (1920x1080) with
the brand name and slogan on a coloured gradient; plus one short MP4 loop (3 s at 10 fps,
480x270, fourcc "mp4v") with a moving disc. Every file is written atomically and then checked
with `content.probe.probe`, so what the demo ships is what a brand upload would have to pass.
"""

from __future__ import annotations

import colorsys
import io
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from content.atomic import atomic_write
from content.probe import CreativeError, probe

PORTRAIT = (1080, 1920)
LANDSCAPE = (1920, 1080)
VIDEO_SIZE = (480, 270)
VIDEO_FPS = 10
VIDEO_FRAMES = 30
TAGLINE = "Scan · Pay · Join in one tap"

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Brand:
    name: str
    slogan: str
    colour: RGB | None = None  # None: picked from the seed

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "brand"


DEFAULT_BRANDS = (
    Brand("Nordic Roast", "Coffee worth the queue", (132, 86, 60)),
    Brand("Lumen Beauty", "Glow on the go", (196, 84, 140)),
    Brand("FreshMart", "Crisp today, crisper tomorrow", (58, 150, 84)),
)
_SLOGANS = ("Made for today", "Members save more", "Taste the difference", "New in store")


def _as_brand(item: Brand | str, index: int) -> Brand:
    if isinstance(item, Brand):
        return item
    return Brand(item, _SLOGANS[index % len(_SLOGANS)])


def _brand_colour(brand: Brand, rng: random.Random) -> RGB:
    if brand.colour is not None:
        return brand.colour
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.55, 0.85), rng.uniform(0.55, 0.8))
    return round(r * 255), round(g * 255), round(b * 255)


def _shade(colour: RGB, factor: float) -> RGB:
    r, g, b = (min(255, max(0, round(c * factor))) for c in colour)
    return r, g, b


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fitted(draw: ImageDraw.ImageDraw, text: str, size: int, max_width: float
            ) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    while size > 10:
        font = _font(size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= max_width:
            return font
        size = int(size * 0.9)
    return _font(size)


def _centred(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont |
             ImageFont.ImageFont, width: int, y: float, fill: RGB) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    x = (width - (right - left)) / 2 - left
    off = max(1, int(getattr(font, "size", 30)) // 30)
    draw.text((x + off, y + off), text, font=font, fill=(0, 0, 0, 110))  # soft shadow
    draw.text((x, y), text, font=font, fill=fill)


def poster(brand: Brand, size: tuple[int, int], *, seed: int = 0) -> Image.Image:
    """An RGB poster: gradient in the brand colour, translucent discs, name, slogan, tagline."""
    width, height = size
    colour = _brand_colour(brand, random.Random(f"{seed}:{brand.name}"))
    rng = random.Random(f"{seed}:{brand.name}:{width}x{height}")
    mask = Image.linear_gradient("L").resize(size)
    img = Image.composite(Image.new("RGB", size, _shade(colour, 0.45)),
                          Image.new("RGB", size, _shade(colour, 1.15)), mask).convert("RGBA")
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    shapes = ImageDraw.Draw(overlay)
    for _ in range(9):
        r = rng.randint(min(size) // 12, min(size) // 3)
        cx, cy = rng.randint(0, width), rng.randint(0, height)
        tint = (255, 255, 255) if rng.random() < 0.6 else _shade(colour, 1.6)
        shapes.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*tint, rng.randint(25, 70)))
    img = Image.alpha_composite(img, overlay)

    draw = ImageDraw.Draw(img, "RGBA")  # blend translucent fills
    short = min(size)
    name_font = _fitted(draw, brand.name, short // 6, width * 0.85)
    slogan_font = _fitted(draw, brand.slogan, short // 16, width * 0.85)
    tag_font = _fitted(draw, TAGLINE, short // 24, width * 0.8)
    _centred(draw, brand.name, name_font, width, height * 0.36, (255, 255, 255))
    _centred(draw, brand.slogan, slogan_font, width, height * 0.36 + short // 6 * 1.3,
             (255, 255, 255))
    band_top = height - short // 7
    draw.rectangle((0, band_top, width, height), fill=(*_shade(colour, 0.3), 230))
    _centred(draw, TAGLINE, tag_font, width, band_top + short // 40, (255, 255, 255))
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, "JPEG", quality=88)
    else:
        img.save(out, fmt)
    return out.getvalue()


def write_video(path: Path, brand: Brand, *, seed: int = 0) -> Path:
    """A 3 s MP4 (fourcc mp4v) of a disc crossing the brand colour under the brand name."""
    width, height = VIDEO_SIZE
    colour = _brand_colour(brand, random.Random(f"{seed}:{brand.name}"))
    rng = random.Random(f"{seed}:{brand.name}:video")
    base = Image.new("RGB", VIDEO_SIZE, _shade(colour, 0.8))
    draw = ImageDraw.Draw(base, "RGBA")
    _centred(draw, brand.name, _fitted(draw, brand.name, 40, width * 0.85), width, 24,
             (255, 255, 255))
    _centred(draw, brand.slogan, _fitted(draw, brand.slogan, 20, width * 0.85), width,
             height - 44, (255, 255, 255))
    frame0 = cv2.cvtColor(np.asarray(base), cv2.COLOR_RGB2BGR)
    disc = tuple(int(c) for c in reversed(_shade(colour, 1.7)))
    phase = rng.uniform(0, 1)

    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), float(VIDEO_FPS),
                             VIDEO_SIZE)
    if not writer.isOpened():
        raise RuntimeError("this OpenCV build cannot write MP4 video (no FFmpeg backend)")
    try:
        for i in range(VIDEO_FRAMES):
            t = (i / VIDEO_FRAMES + phase) % 1.0
            x = int(40 + t * (width - 80))
            y = int(height / 2 + np.sin(t * 2 * np.pi) * height / 6)
            frame = frame0.copy()
            cv2.circle(frame, (x, y), 28, disc, -1, cv2.LINE_AA)
            writer.write(frame)
    finally:
        writer.release()
    os.replace(tmp, path)
    return path


def generate_samples(
    out_dir: str | os.PathLike[str],
    brands: Sequence[Brand | str] = DEFAULT_BRANDS,
    *,
    seed: int = 0,
    video: bool = True,
) -> list[Path]:
    """Write the sample creatives into `out_dir` (created if missing); return their paths.

    Per brand `<slug>-portrait.png` and `<slug>-landscape.jpg`; with `video`, one
    `<first slug>-loop.mp4`. The same seed gives the same bytes. Every file is probed after it
    is written; a file the probe refuses raises RuntimeError (a bug here, not in the caller).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = [_as_brand(b, i) for i, b in enumerate(brands)]
    if not resolved:
        raise ValueError("at least one brand is needed")
    slugs = [b.slug for b in resolved]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"brand names must differ after simplification: {slugs}")

    written: list[Path] = []
    for brand in resolved:
        for size, suffix, fmt, label in ((PORTRAIT, "png", "PNG", "portrait"),
                                         (LANDSCAPE, "jpg", "JPEG", "landscape")):
            path = out / f"{brand.slug}-{label}.{suffix}"
            atomic_write(path, _encode(poster(brand, size, seed=seed), fmt))
            written.append(path)
    if video:
        written.append(write_video(out / f"{resolved[0].slug}-loop.mp4", resolved[0], seed=seed))
    for path in written:
        try:
            probe(path)
        except CreativeError as exc:
            raise RuntimeError(f"generated sample {path.name} fails the probe: {exc}") from exc
    return written
