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
import struct
import tempfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Literal

from content.hashing import CHUNK_BYTES, Progress, hash_file, sha256_bytes
from content.manifest import MAX_FILE_BYTES, FileEntry, MediaType

Reason = Literal[
    "empty",            # zero bytes
    "too_large",        # more bytes than Limits.max_bytes
    "unknown_type",     # not PNG, JPEG, WebP, MP4 or WebM (by its bytes)
    "type_mismatch",    # the bytes are one type, the uploader declared another
    "truncated",        # the file ends before its own structure says it does
    "trailing_data",    # bytes after the image's end: a polyglot or a damaged file
    "corrupt",          # structure or pixel data cannot be decoded
    "too_many_pixels",  # width x height over Limits.max_pixels (decompression bomb guard)
    "dimensions",       # width or height outside the limits
    "bad_video",        # the video cannot be opened or decoded
    "no_frames",        # the video has no frames
    "too_long",         # the video lasts longer than Limits.max_video_ms
    "codec",            # the video codec is not in Limits.video_codecs
    "changed",          # the file changed while it was being checked
]

ACCEPTED = "PNG, JPEG or WebP images and MP4 or WebM videos"
HEAD_BYTES = 4096

# FourCCs as OpenCV's FFmpeg backend reports them (compared case-insensitively): MPEG-4 Part 2
# (what VideoWriter "mp4v" writes reads back as FMP4), H.264, H.265, VP8, VP9, AV1.
DEFAULT_VIDEO_CODECS = frozenset({
    "FMP4", "MP4V", "AVC1", "AVC3", "H264", "HVC1", "HEV1", "HEVC", "H265",
    "VP80", "VP90", "VP08", "VP09", "AV01",
})


class CreativeError(ValueError):
    """A creative that is refused: `reason` is one of `Reason`; the message is for people."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason

    def __reduce__(self) -> tuple[type[CreativeError], tuple[Reason, str]]:
        return type(self), (self.reason, str(self))


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


# -- sniffing ----------------------------------------------------------------------------------

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EBML_ID = 0x1A45DFA3
_SEGMENT_ID = 0x18538067
_DOCTYPE_ID = 0x4282
# ISO-BMFF brands of MP4 video; HEIF/AVIF images share the container and are refused by brand.
_MP4_BRANDS = frozenset({
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
    b"mp41", b"mp42", b"mp71", b"avc1", b"av01", b"M4V ", b"M4VH", b"M4VP", b"dash", b"mmp4",
    b"MSNV", b"cmfc", b"f4v ",
})
_IMAGE_BRANDS = frozenset({
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"miaf",
    b"avif", b"avis",
})
_OTHER_FORMATS = (
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"), (b"\x1f\x8b", "a gzip archive"),
    (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"8BPS", "a Photoshop file"),
    (b"OggS", "an Ogg file"), (b"ID3", "an MP3 file"), (b"\x00\x00\x01\x00", "an icon file"),
    (b"\xff\x0a", "a JPEG XL image"), (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"\x7fELF", "a program"), (b"MZ", "a Windows program"),
)


def _unknown(what: str) -> CreativeError:
    return CreativeError("unknown_type", f"not an accepted creative: {what}; upload {ACCEPTED}")


def _vint(buf: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length integer at `pos`: (value, length, all value bits set)."""
    if pos >= len(buf):
        raise CreativeError("truncated", "the WebM header ends early")
    first = buf[pos]
    if first == 0:
        raise CreativeError("corrupt", "the WebM header is malformed")
    length = 9 - first.bit_length()
    if pos + length > len(buf):
        raise CreativeError("truncated", "the WebM header ends early")
    raw = int.from_bytes(buf[pos:pos + length], "big")
    value = raw & ((1 << (7 * length)) - 1)
    unknown = value == (1 << (7 * length)) - 1
    return (raw if keep_marker else value), length, unknown


def _ebml_header(head: bytes) -> tuple[bytes, int]:
    """(DocType, offset just past the EBML header) of a Matroska/WebM file."""
    ident, a, _ = _vint(head, 0, keep_marker=True)
    size, b, _ = _vint(head, a, keep_marker=False)
    if ident != _EBML_ID:
        raise _unknown("unrecognised format")
    start, end = a + b, a + b + size
    if end > len(head):
        if len(head) < HEAD_BYTES:
            raise CreativeError("truncated", "the file ends inside its WebM header")
        raise CreativeError("corrupt", "the WebM header is implausibly long")
    doctype = b""
    pos = start
    while pos < end:
        child, c, _ = _vint(head, pos, keep_marker=True)
        child_size, d, _ = _vint(head, pos + c, keep_marker=False)
        data_at = pos + c + d
        if child == _DOCTYPE_ID:
            doctype = head[data_at:data_at + child_size].rstrip(b"\x00")
        pos = data_at + child_size
    if pos != end:
        raise CreativeError("corrupt", "the WebM header is malformed")
    return doctype, end


def _mp4_brands(head: bytes) -> list[bytes]:
    box_size = int.from_bytes(head[:4], "big")
    if box_size < 16 or box_size % 4:
        raise CreativeError("corrupt", "the MP4 'ftyp' box is malformed")
    if box_size > len(head) and len(head) < HEAD_BYTES:
        raise CreativeError("truncated", "the MP4 file ends inside its 'ftyp' box")
    compatible = [head[i:i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
    return [head[8:12], *compatible]


def sniff(head: bytes) -> MediaType:
    """The media type of a file from its first bytes (4 KiB is plenty); CreativeError if none."""
    if head.startswith(_PNG_MAGIC):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        names = {b"AVI ": "an AVI video", b"WAVE": "a WAV audio file"}
        raise _unknown(names.get(kind, "a RIFF file that is not WebP"))
    if head[4:8] == b"ftyp":
        brands = _mp4_brands(head)
        if _IMAGE_BRANDS.intersection(brands):
            raise _unknown("a HEIF/AVIF image (export it as PNG, JPEG or WebP)")
        if _MP4_BRANDS.intersection(brands):
            return "video/mp4"
        if brands[0] == b"qt  ":
            raise _unknown("a QuickTime movie (export it as MP4)")
        raise _unknown(f"an ISO media file of brand {brands[0]!r}, not an MP4 video")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doctype, _ = _ebml_header(head)
        if doctype == b"webm":
            return "video/webm"
        if doctype == b"matroska":
            raise _unknown("a Matroska (.mkv) video (export it as WebM or MP4)")
        raise _unknown(f"an EBML file of type {doctype!r}")
    for magic, what in _OTHER_FORMATS:
        if head.startswith(magic):
            raise _unknown(what)
    if not head:
        raise CreativeError("empty", "the file is empty")
    if head.lstrip()[:1] == b"<":
        raise _unknown("text markup (HTML, SVG or XML)")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:  # (or a multi-byte character cut at the end of the head)
        text = ""
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        raise _unknown("a text file")
    raise _unknown(f"unrecognised format (starts with {head[:8].hex(' ')})")


# -- container structure -----------------------------------------------------------------------


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CreativeError("truncated", f"the file ends inside {what}")
    return data


def _check_png(f: BinaryIO, size: int) -> None:
    """Every chunk complete with a good CRC, IHDR first, IEND last, nothing after it."""
    pos = 8
    first = True
    while True:
        f.seek(pos)
        length, ctype = struct.unpack(">I4s", _read_exact(f, 8, "a PNG chunk header"))
        if not ctype.isalpha() or length > 0x7FFFFFFF or (first and ctype != b"IHDR"):
            raise CreativeError("corrupt", "the PNG chunk structure is damaged")
        first = False
        end = pos + 12 + length
        if end > size:
            raise CreativeError("truncated", f"the PNG file ends inside its {ctype.decode()} chunk")
        crc = zlib.crc32(ctype)
        left = length
        while left:
            part = _read_exact(f, min(left, CHUNK_BYTES), "a PNG chunk")
            crc = zlib.crc32(part, crc)
            left -= len(part)
        (stored,) = struct.unpack(">I", _read_exact(f, 4, "a PNG chunk"))
        if stored != crc:
            raise CreativeError("corrupt", f"the PNG {ctype.decode()} chunk fails its checksum "
                                           "(the file is damaged)")
        pos = end
        if ctype == b"IEND":
            break
    if pos != size:
        raise CreativeError("trailing_data", f"{size - pos} bytes follow the end of the PNG image "
                                             "(a damaged file, or another file hidden in it)")


def _check_webp(head: bytes, size: int) -> None:
    declared = int.from_bytes(head[4:8], "little") + 8
    if declared > size:
        raise CreativeError("truncated", f"the WebP file says {declared} bytes but has {size}")
    if size > declared + (declared & 1):
        raise CreativeError("trailing_data", f"{size - declared} bytes follow the end of the "
                                             "WebP image (a damaged file, or another file in it)")


_MAX_BOXES = 100_000


def _check_mp4(f: BinaryIO, size: int) -> None:
    """Top-level boxes tile the file exactly and include the movie header ('moov')."""
    pos = 0
    seen: set[bytes] = set()
    for _ in range(_MAX_BOXES):
        if pos >= size:
            break
        f.seek(pos)
        box_size, btype = struct.unpack(">I4s", _read_exact(f, 8, "an MP4 box header"))
        header = 8
        if box_size == 1:
            (box_size,) = struct.unpack(">Q", _read_exact(f, 8, "an MP4 box header"))
            header = 16
        elif box_size == 0:  # the last box runs to the end of the file
            box_size = size - pos
        if box_size < header:
            raise CreativeError("corrupt", f"the MP4 box at byte {pos} is malformed")
        if pos + box_size > size:
            name = btype.decode("latin-1")
            raise CreativeError("truncated", f"the MP4 file ends inside its '{name}' box "
                                             f"({pos + box_size - size} bytes missing)")
        seen.add(btype)
        pos += box_size
    else:
        raise CreativeError("corrupt", "the MP4 file has an implausible number of boxes")
    if b"moov" not in seen:
        raise CreativeError("bad_video", "the MP4 file has no movie header ('moov' box): "
                                         "an unfinished recording or a raw stream")


def _check_webm(f: BinaryIO, size: int, header_end: int) -> None:
    f.seek(header_end)
    buf = f.read(12)
    ident, a, _ = _vint(buf, 0, keep_marker=True)
    if ident != _SEGMENT_ID:
        raise CreativeError("corrupt", "the WebM file has no Segment after its header")
    seg_size, b, unknown = _vint(buf, a, keep_marker=False)
    end = header_end + a + b + seg_size
    if not unknown and end > size:
        raise CreativeError("truncated", f"the WebM file ends early ({end - size} bytes missing)")


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
            _check_png(f, size)
        elif media_type == "image/webp":
            _check_webp(head, size)
        elif media_type == "video/mp4":
            _check_mp4(f, size)
        elif media_type == "video/webm":
            _check_webm(f, size, _ebml_header(head)[1])
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
