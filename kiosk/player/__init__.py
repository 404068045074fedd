"""The signage player's content side: the on-disk library, downloads and manifest sync.

- `kiosk.player.plan`: pure decisions (the content pointer, missing files, eviction order).
- `kiosk.player.library`: `ContentLibrary`, the verified files and the active manifest on disk.
- `kiosk.player.download`: `fetch_file`, one file over HTTP with resume and hash checks.
- `kiosk.player.sync`: `ContentSync`, from a `down/config` pointer to an activated manifest.
"""

from kiosk.player.download import fetch_file
from kiosk.player.errors import (
    ContentError,
    DiskFullError,
    DownloadError,
    HashMismatchError,
    MissingFilesError,
)
from kiosk.player.library import ContentLibrary, LoadedManifest
from kiosk.player.plan import ContentPointer
from kiosk.player.sync import ContentSync, SyncResult

__all__ = [
    "ContentError",
    "ContentLibrary",
    "ContentPointer",
    "ContentSync",
    "DiskFullError",
    "DownloadError",
    "HashMismatchError",
    "LoadedManifest",
    "MissingFilesError",
    "SyncResult",
    "fetch_file",
]
