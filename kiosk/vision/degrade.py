"""A generated set of degraded 1280×720 camera frames with codes in them (pure numpy/cv2).

Why generated: the decoder comparison (`bench/qr.py`) and the tests need frames whose content
is known, that are hard in the ways a checkout camera is (a phone held at any angle or tilted,
out of focus, a dim screen, glare on the glass, a cheap camera's JPEG stream, a phone held far
away), and that need no downloaded data.

Every frame is one `payloads.payload_set` code on a phone screen (light screen, dark bezel)
over a cluttered counter, with a geometry (`rotate`: any angle; `perspective`: tilted up to
about 20 % of its size) and one photometric variant:

* `clean`: light sensor noise only;  `blur`: defocus, Gaussian sigma 1.0-2.0 px;
* `low_contrast`: the whole frame squeezed to 20-35 % contrast, then noise sigma 5-9;
* `glare`: a saturating highlight over part of the code;  `jpeg`: JPEG quality 15-25;
* `small`: the phone shown at 55-70 % size (so 1.1-3.5 px per module).

Each code is drawn at 2, 3 and 5 px per module. Frames are BGR uint8 (what `frames` delivers).
Frame `i` of seed `s` depends only on (s, i), so any subset can be rebuilt on its own.
A barcode too wide to fit the frame at an angle is shrunk until it fits (noted in `Sample`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.vision.payloads import Payload, Symbology, payload_set
from kiosk.vision.symbols import render_code128, render_qr

WIDTH, HEIGHT = 1280, 720
MODULE_PX = (2, 3, 5)
GEOMETRIES = ("rotate", "perspective")
PHOTOMETRICS = ("clean", "blur", "low_contrast", "glare", "jpeg", "small")
DEFAULT_SEED = 2024
F32 = npt.NDArray[np.float32]
BGR = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class SampleSpec:
    """What frame `index` shows, before it is drawn."""

    index: int
    payload: Payload
    module_px: int
    geometry: str
    photometric: str

    @property
    def variant(self) -> str:
        return f"{self.geometry}+{self.photometric}"


class Sample(NamedTuple):
    """A drawn frame, the text a decoder should read from it, and how it was degraded."""

    frame: BGR
    text: str
    variant: str
    symbology: Symbology
    module_px: int
    scale: float  # < 1 when the symbol was shrunk (`small`, or to fit the frame)


def plan(seed: int = DEFAULT_SEED) -> list[SampleSpec]:
    """Every frame of the set, in order (payload × module size × geometry × photometric)."""
    specs: list[SampleSpec] = []
    for payload in payload_set(seed):
        for px in MODULE_PX:
            for geometry in GEOMETRIES:
                for photometric in PHOTOMETRICS:
                    specs.append(SampleSpec(len(specs), payload, px, geometry, photometric))
    return specs


def subset(specs: list[SampleSpec], every: int) -> list[SampleSpec]:
    """About one spec in `every`, spread over every payload, size, geometry and variant.

    A plain stride would line up with the nested loops of `plan` (every 4th frame sees 3 of
    the 12 variants); this keeps the specs whose loop positions add up to a multiple of
    `every`, so each combination of the other loops still gets its share.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    payloads = {p: i for i, p in enumerate(dict.fromkeys(s.payload for s in specs))}
    return [s for s in specs
            if (payloads[s.payload] + MODULE_PX.index(s.module_px)
                + GEOMETRIES.index(s.geometry) + PHOTOMETRICS.index(s.photometric)) % every == 0]


def degraded_set(seed: int = DEFAULT_SEED, *, every: int = 1) -> Iterator[Sample]:
    """The frames one by one (about one in `every`), drawn lazily: all at once is ~1.8 GB."""
    for spec in subset(plan(seed), every):
        yield draw(spec, seed)


def draw(spec: SampleSpec, seed: int = DEFAULT_SEED) -> Sample:
    """Frame `spec.index` of the set for `seed`."""
    rng = np.random.default_rng([seed, 1, spec.index])
    text = spec.payload.text
    symbol = (render_qr(text, spec.module_px) if spec.payload.symbology == "qr"
              else render_code128(text, spec.module_px))
    patch = _phone(symbol, rng)
    scale = float(rng.uniform(0.55, 0.7)) if spec.photometric == "small" else 1.0
    corners, fit = _placement(patch.shape, scale, spec.geometry, rng)
    gray = _composite(_background(rng), patch, corners, scale * fit)
    gray = cv2.GaussianBlur(gray, (0, 0), 0.5)  # every camera is a little soft
    gray = _photometric(gray, spec.photometric, corners, rng)
    tint = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    frame = np.clip(gray[:, :, None] * tint, 0, 255).astype(np.uint8)
    if spec.photometric == "jpeg":
        quality = int(rng.integers(15, 26))
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else frame
    return Sample(frame, text, spec.variant, spec.payload.symbology, spec.module_px, scale * fit)


def _phone(symbol: npt.NDArray[np.uint8], rng: np.random.Generator) -> F32:
    """The symbol on a lit screen (dark level 10-40, light 200-250) inside a dark bezel."""
    dark, light = float(rng.uniform(10, 40)), float(rng.uniform(200, 250))
    screen = np.where(symbol < 128, dark, light).astype(np.float32)
    margin = max(6, round(0.06 * max(symbol.shape)))
    screen = cv2.copyMakeBorder(screen, margin, margin, margin, margin, cv2.BORDER_CONSTANT,
                                value=light)
    bezel = max(4, round(0.04 * max(screen.shape)))
    return cv2.copyMakeBorder(screen, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT,
                              value=float(rng.uniform(15, 45)))


def _placement(shape: tuple[int, ...], scale: float, geometry: str,
               rng: np.random.Generator) -> tuple[F32, float]:
    """Frame positions of the patch's four corners, and any shrink needed to fit the frame."""
    h, w = shape[0] * scale, shape[1] * scale
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], dtype=np.float32) / 2
    if geometry == "rotate":
        angle = rng.uniform(0, 2 * np.pi)
    else:
        angle = rng.uniform(-0.26, 0.26)
        pts += rng.uniform(-0.2, 0.2, size=(4, 2)).astype(np.float32) * np.float32(max(h, w))
    c, s = np.cos(angle), np.sin(angle)
    pts = pts @ np.array([[c, s], [-s, c]], dtype=np.float32)
    span = pts.max(axis=0) - pts.min(axis=0)
    fit = float(min(1.0, (WIDTH - 8) / span[0], (HEIGHT - 8) / span[1]))
    pts *= np.float32(fit)
    low, high = -pts.min(axis=0) + 4, np.array([WIDTH, HEIGHT]) - pts.max(axis=0) - 4
    return (pts + rng.uniform(low, np.maximum(low, high))).astype(np.float32), fit


def _background(rng: np.random.Generator) -> F32:
    """A counter: a lit gradient, smooth blotches and a few boxes with hard edges."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    gx, gy = rng.uniform(-40, 40, size=2) / np.float32(WIDTH)
    bg = np.float32(rng.uniform(60, 160)) + gx * xx + gy * yy
    blotch = rng.uniform(-20, 20, size=(9, 16)).astype(np.float32)
    bg += cv2.resize(blotch, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = int(rng.integers(0, WIDTH - 40)), int(rng.integers(0, HEIGHT - 40))
        x1, y1 = x0 + int(rng.integers(30, 400)), y0 + int(rng.integers(30, 300))
        bg[y0:y1, x0:x1] = np.float32(rng.uniform(20, 230))
    return bg


def _composite(bg: F32, patch: F32, corners: F32, scale: float) -> F32:
    """`patch`, shrunk by `scale`, warped onto `bg` with its corners on `corners`."""
    h, w = patch.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    if scale < 1:  # shrinking: average like a lens and sensor would, not point-sample
        patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        src *= np.float32(scale)
    matrix = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(patch, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(patch), matrix, (WIDTH, HEIGHT),
                               flags=cv2.INTER_LINEAR)
    return warped + (1 - mask) * bg


def _photometric(gray: F32, name: str, corners: F32, rng: np.random.Generator) -> F32:
    noise = 2.0
    if name == "blur":
        gray = cv2.GaussianBlur(gray, (0, 0), float(rng.uniform(1.0, 2.0)))
    elif name == "low_contrast":
        mean = np.float32(rng.uniform(90, 160))
        gray = mean + (gray - mean) * np.float32(rng.uniform(0.2, 0.35))
        noise = float(rng.uniform(5, 9))
    elif name == "glare":
        gray = gray + _glare(corners, rng)
    out = gray + rng.standard_normal(gray.shape, dtype=np.float32) * np.float32(noise)
    return np.clip(out, 0, 255)


def _glare(corners: F32, rng: np.random.Generator) -> F32:
    """A bright elliptical highlight near the code's centre, strong enough to saturate."""
    centre = corners.mean(axis=0)
    size = float(np.linalg.norm(corners[2] - corners[0])) / 2
    cx, cy = centre + rng.uniform(-0.25, 0.25, size=2) * size
    sx, sy = rng.uniform(0.12, 0.3, size=2) * size
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    blob = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)
    return (blob * np.float32(rng.uniform(120, 220))).astype(np.float32)
