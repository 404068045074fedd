"""Creative validation: what a brand uploaded, identified from its bytes and checked against limits.

`probe(data)` sniffs the type from magic numbers (never from a file name or a client's content
type), walks the container structure (PNG chunks and CRCs, the RIFF size of WebP, the top-level
boxes of MP4, the EBML header and Segment of WebM) so truncated or padded files are caught early,
then decodes: images fully with Pillow (after a pixel-count check, so a decompression bomb is
refused before any pixel is decoded), videos with OpenCV (frame size, frame count, fps, codec and
the first frame). Everything wrong with a creative is a `CreativeError` whose `reason` is a
stable machine-readable word and whose message says what to fix.

Pure apart from reading the given file (or a temporary copy of the bytes, because OpenCV reads
videos from a path). Pillow and OpenCV are imported only when a file needs them, so the terminal
side can import this module (`Limits`, `CreativeError`, `sniff`) without them.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from content.creative_errors import CreativeError
from content.hashing import Progress, hash_file, sha256_bytes
from content.manifest import MAX_FILE_BYTES, FileEntry, MediaType
from content.sniff import (
    HEAD_BYTES,
    check_mp4,
    check_png,
    check_webm,
    check_webp,
    ebml_header,
    sniff,
)

# FourCCs as OpenCV's FFmpeg backend reports them (compared case-insensitively): MPEG-4 Part 2
# (what VideoWriter "mp4v" writes reads back as FMP4), H.264, H.265, VP8, VP9, AV1.
DEFAULT_VIDEO_CODECS = frozenset({
    "FMP4", "MP4V", "AVC1", "AVC3", "H264", "HVC1", "HEV1", "HEVC", "H265",
    "VP80", "VP90", "VP08", "VP09", "AV01",
})


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1024**3
    max_pixels: int = 40_000_000
    min_width: int = 64
    min_height: int = 64
    max_width: int = 8192
    max_height: int = 8192
    max_video_ms: int = 5 * 60_000
    video_codecs: frozenset[str] = DEFAULT_VIDEO_CODECS

    def __post_init__(self) -> None:
        if not 1 <= self.max_bytes <= MAX_FILE_BYTES:
            raise ValueError(f"max_bytes must be 1..{MAX_FILE_BYTES}")
        # A manifest entry holds at most 16384 pixels a side.
        if not 1 <= self.min_width <= self.max_width <= 16384:
            raise ValueError("need 1 <= min_width <= max_width <= 16384")
        if not 1 <= self.min_height <= self.max_height <= 16384:
            raise ValueError("need 1 <= min_height <= max_height <= 16384")
        if self.max_pixels < 1 or self.max_video_ms < 1:
            raise ValueError("max_pixels and max_video_ms must be positive")
        object.__setattr__(self, "video_codecs", frozenset(c.upper() for c in self.video_codecs))


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Probed:
    """What a creative turned out to be. Video fields are None for images."""

    media_type: MediaType
    width: int
    height: int
    size: int
    sha256: str
    duration_ms: int | None = None
    codec: str | None = None
    fps: float | None = None
    frames: int | None = None

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")

    def to_entry(self, name: str) -> FileEntry:
        return FileEntry(name=name, sha256=self.sha256, size=self.size,
                         media_type=self.media_type, width=self.width, height=self.height,
                         duration_ms=self.duration_ms)

    def describe(self) -> str:
        text = f"{self.media_type} {self.width}x{self.height}"
        if self.is_video:
            seconds = (self.duration_ms or 0) / 1000
            text += f" {seconds:.2f}s {self.codec} {self.fps:g}fps {self.frames} frames"
        return f"{text} {self.size} bytes sha256 {self.sha256}"


# -- decoding ----------------------------------------------------------------------------------

_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise CreativeError("too_many_pixels",
                            f"{width}x{height} is {width * height / 1e6:.1f} megapixels; the limit "
                            f"is {limits.max_pixels / 1e6:.1f} (refused without decoding it)")
    if width < limits.min_width or height < limits.min_height:
        raise CreativeError("dimensions", f"{width}x{height} is too small: at least "
                                          f"{limits.min_width}x{limits.min_height} is needed")
    if width > limits.max_width or height > limits.max_height:
        raise CreativeError("dimensions", f"{width}x{height} is too big: at most "
                                          f"{limits.max_width}x{limits.max_height} is allowed")


def _decode_error(kind: str, exc: BaseException) -> CreativeError:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "truncat" in text.lower():
        return CreativeError("truncated", f"the {kind} is truncated: {text}")
    return CreativeError("corrupt", f"the {kind} cannot be decoded: {text}")


def _probe_image(f: BinaryIO, media_type: MediaType, limits: Limits) -> tuple[int, int]:
    from PIL import Image

    kind = _PIL_FORMATS[media_type]
    try:
        img = Image.open(f, formats=[kind])
    except Image.DecompressionBombError as exc:
        raise CreativeError("too_many_pixels", f"too many pixels to decode safely: {exc}"
                            ) from None
    except Exception as exc:  # Pillow raises many types on hostile input; all mean "bad file"
        raise _decode_error(f"{kind} image", exc) from None
    with img:
        width, height = img.size
        _check_pixels(width, height, limits)
        try:
            img.load()
        except Exception as exc:
            raise _decode_error(f"{kind} image", exc) from None
        try:
            orientation = img.getexif().get(0x0112)
        except Exception:  # unreadable EXIF does not stop the image from showing
            orientation = None
    if orientation in (5, 6, 7, 8):  # shown rotated by 90 degrees
        width, height = height, width
    return width, height


@dataclass(frozen=True)
class _Video:
    width: int
    height: int
    duration_ms: int
    codec: str
    fps: float
    frames: int


def _fourcc(value: float) -> str:
    if not math.isfinite(value):
        return ""
    raw = (int(value) & 0xFFFFFFFF).to_bytes(4, "little")
    text = "".join(chr(c) if 32 <= c < 127 else "?" for c in raw)
    return text.strip("\x00 ")


def _probe_video(path: str, limits: Limits) -> _Video:
    import cv2

    try:
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    except Exception as exc:  # cv2.error
        raise CreativeError("bad_video", f"the video cannot be opened: {exc}") from None
    try:
        if not cap.isOpened():
            raise CreativeError("bad_video", "the video cannot be opened (unreadable or damaged)")
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
        if codec.upper() not in limits.video_codecs:
            allowed = ", ".join(sorted(limits.video_codecs))
            raise CreativeError("codec", f"video codec {codec or 'unknown'!r} is not accepted; "
                                         f"use one of {allowed}")
        width = cap.get(cv2.CAP_PROP_FRAME_WIDTH)
        height = cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(width) and math.isfinite(height) and width >= 1 and height >= 1):
            raise CreativeError("bad_video", "the video has no readable frame size")
        _check_pixels(int(width), int(height), limits)
        if not math.isfinite(frames) or frames < 1:
            raise CreativeError("no_frames", "the video has no frames")
        if not math.isfinite(fps) or not 0.5 <= fps <= 1000:
            raise CreativeError("bad_video", f"the video's frame rate ({fps}) is not usable")
        duration_ms = max(1, round(frames * 1000 / fps))
        if duration_ms > limits.max_video_ms:
            raise CreativeError("too_long", f"the video lasts {duration_ms / 1000:.1f} s; the "
                                            f"limit is {limits.max_video_ms / 1000:.1f} s")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise CreativeError("bad_video", "the video's first frame cannot be decoded")
        if frame.shape[:2] != (int(height), int(width)):
            raise CreativeError("bad_video", "the video's frames do not match its frame size")
    finally:
        cap.release()
    return _Video(width=int(width), height=int(height), duration_ms=duration_ms, codec=codec,
                  fps=float(fps), frames=int(frames))


# -- the whole check ---------------------------------------------------------------------------


def _normalise_type(declared: str) -> str:
    base = declared.split(";", 1)[0].strip().lower()
    return {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}.get(base, base)


class _Source:
    """The creative as given: bytes in memory, or a file read where it lies."""

    def __init__(self, data: bytes | bytearray | memoryview | str | os.PathLike[str]) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            self.blob: bytes | None = bytes(data)
            self.path: str | None = None
            self.size = len(self.blob)
        else:
            self.blob = None
            self.path = os.fspath(data)
            st = os.stat(self.path)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", self.path)
            self.size = st.st_size

    def open(self) -> BinaryIO:
        if self.blob is not None:
            return io.BytesIO(self.blob)
        assert self.path is not None
        return open(self.path, "rb")

    def video(self, media_type: MediaType, limits: Limits) -> _Video:
        if self.path is not None:
            return _probe_video(self.path, limits)
        assert self.blob is not None
        suffix = ".mp4" if media_type == "video/mp4" else ".webm"
        with tempfile.NamedTemporaryFile(prefix="probe-", suffix=suffix) as tmp:
            tmp.write(self.blob)
            tmp.flush()
            return _probe_video(tmp.name, limits)

    def hash(self, progress: Progress | None) -> tuple[str, int]:
        if self.path is not None:
            return hash_file(self.path, progress=progress)
        assert self.blob is not None
        if progress is not None:
            progress(self.size)
        return sha256_bytes(self.blob), self.size


def probe(
    data: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    declared_type: str | None = None,
    progress: Progress | None = None,
) -> Probed:
    """Identify and check a creative given as bytes or as a file path.

    `declared_type` is what the uploader claimed (a Content-Type header, say); a disagreement
    with the bytes is a `type_mismatch`. `progress(bytes_done)` follows the final sha256 pass
    over a file. Raises CreativeError for anything wrong with the creative, OSError if a file
    cannot be read.
    """
    src = _Source(data)
    size = src.size
    if size == 0:
        raise CreativeError("empty", "the file is empty")
    if size > limits.max_bytes:
        raise CreativeError("too_large", f"the file has {size} bytes; the limit is "
                                         f"{limits.max_bytes}")
    with src.open() as f:
        head = f.read(HEAD_BYTES)
    media_type = sniff(head)
    if declared_type is not None and _normalise_type(declared_type) != media_type:
        raise CreativeError("type_mismatch", f"declared as {declared_type!r} but the bytes are "
                                             f"{media_type}")

    video: _Video | None = None
    width = height = 0
    with src.open() as f:
        if media_type == "image/png":
            check_png(f, size)
        elif media_type == "image/webp":
            check_webp(head, size)
        elif media_type == "video/mp4":
            check_mp4(f, size)
        elif media_type == "video/webm":
            check_webm(f, size, ebml_header(head)[1])
        if media_type.startswith("image/"):
            f.seek(0)
            width, height = _probe_image(f, media_type, limits)
    if media_type.startswith("video/"):
        video = src.video(media_type, limits)
        width, height = video.width, video.height

    digest, hashed = src.hash(progress)
    if hashed != size:
        raise CreativeError("changed", "the file changed while it was being checked")
    return Probed(media_type=media_type, width=width, height=height, size=size, sha256=digest,
                  duration_ms=video.duration_ms if video else None,
                  codec=video.codec if video else None, fps=video.fps if video else None,
                  frames=video.frames if video else None)
