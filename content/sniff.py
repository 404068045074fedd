"""Identify a creative from its bytes and walk its container structure (pure, stdlib only).

`sniff(head)` names the type from magic numbers; the `check_*` functions walk PNG chunks and
CRCs, the RIFF size of WebP, the top-level boxes of MP4 and the EBML Segment of WebM, so that a
truncated or padded file is refused before anything is decoded.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from content.creative_errors import CreativeError
from content.hashing import CHUNK_BYTES
from content.manifest import MediaType

ACCEPTED = "PNG, JPEG or WebP images and MP4 or WebM videos"
HEAD_BYTES = 4096  # what `sniff` is given: enough for every header it reads

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


def ebml_header(head: bytes) -> tuple[bytes, int]:
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
        doctype, _ = ebml_header(head)
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


def check_png(f: BinaryIO, size: int) -> None:
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


def check_webp(head: bytes, size: int) -> None:
    declared = int.from_bytes(head[4:8], "little") + 8
    if declared > size:
        raise CreativeError("truncated", f"the WebP file says {declared} bytes but has {size}")
    if size > declared + (declared & 1):
        raise CreativeError("trailing_data", f"{size - declared} bytes follow the end of the "
                                             "WebP image (a damaged file, or another file in it)")


_MAX_BOXES = 100_000


def check_mp4(f: BinaryIO, size: int) -> None:
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


def check_webm(f: BinaryIO, size: int, header_end: int) -> None:
    f.seek(header_end)
    buf = f.read(12)
    ident, a, _ = _vint(buf, 0, keep_marker=True)
    if ident != _SEGMENT_ID:
        raise CreativeError("corrupt", "the WebM file has no Segment after its header")
    seg_size, b, unknown = _vint(buf, a, keep_marker=False)
    end = header_end + a + b + seg_size
    if not unknown and end > size:
        raise CreativeError("truncated", f"the WebM file ends early ({end - size} bytes missing)")
