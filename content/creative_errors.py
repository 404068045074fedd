"""Why a creative is refused: `CreativeError` and its machine-readable `Reason`."""

from __future__ import annotations

from typing import Literal

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

class CreativeError(ValueError):
    """A creative that is refused: `reason` is one of `Reason`; the message is for people."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason

    def __reduce__(self) -> tuple[type[CreativeError], tuple[Reason, str]]:
        return type(self), (self.reason, str(self))
