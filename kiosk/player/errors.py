"""Errors of the content player (library, downloads, sync)."""

from __future__ import annotations


class ContentError(Exception):
    """Base of every content-side failure the sync reports instead of crashing."""


class DiskFullError(ContentError):
    """The content does not fit: over the library quota, or the disk itself is full (ENOSPC)."""

    def __init__(self, message: str, *, needed_bytes: int | None = None,
                 quota_bytes: int | None = None) -> None:
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.quota_bytes = quota_bytes


class DownloadError(ContentError):
    """A file could not be fetched (network, HTTP status) after the allowed attempts."""


class HashMismatchError(DownloadError):
    """The bytes received never matched the manifest's sha256/size."""


class MissingFilesError(ContentError):
    """Activation refused: a file of the manifest is not in the library."""
