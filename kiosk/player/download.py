"""Fetch one content file over HTTP into the library: resumable, verified while streaming.

The bytes go to `partial/<sha256>.part`. A partial left by a dropped connection (or a reboot)
is resumed with `Range: bytes=<n>-`; a server that ignores Range (200) restarts the file. Size
and sha256 are checked as the bytes arrive, and the file is renamed into `files/` only when the
hash matches. A mismatch deletes the partial and starts over, up to `attempts` tries in all
(network errors count as tries too); then HashMismatchError (or DownloadError).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable

import httpx

from content.manifest import FileEntry
from kiosk.player.errors import DownloadError, HashMismatchError
from kiosk.player.library import ContentLibrary

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (bytes of this file on disk, file size)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class _Retry(Exception):
    """This attempt failed in a way another attempt may fix (partial kept unless said)."""


class _Mismatch(Exception):
    """The bytes are not the manifest's: the partial is discarded before the next attempt."""


class _Attempt:
    """One try at a file; `received` counts bytes over the network across tries."""

    def __init__(self, client: httpx.AsyncClient, url: str, entry: FileEntry,
                 library: ContentLibrary, progress: Progress | None) -> None:
        self.client, self.url, self.entry, self.library = client, url, entry, library
        self.progress = progress
        self.received = 0
        self._resume: tuple[int, hashlib._Hash] | None = None  # saves re-hashing the partial

    async def _partial_state(self) -> tuple[int, hashlib._Hash]:
        sha, size = self.entry.sha256, self.entry.size
        on_disk = self.library.partial_size(sha)
        if self._resume is not None and self._resume[0] == on_disk:
            offset, h = self._resume
        else:
            offset, h = await asyncio.to_thread(self.library.hash_partial, sha)
        if offset > size:
            self.library.discard_partial(sha)
            return 0, hashlib.sha256()
        return offset, h

    def forget_partial(self) -> None:
        self.library.discard_partial(self.entry.sha256)
        self._resume = None

    async def run(self) -> None:
        entry = self.entry
        offset, h = await self._partial_state()
        if offset == entry.size:
            await self._finish(h)
            return
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        async with self.client.stream("GET", self.url, headers=headers) as resp:
            if resp.status_code == 206 and offset:
                m = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
                if not m or int(m[1]) != offset or m[3] not in ("*", str(entry.size)):
                    self.library.discard_partial(entry.sha256)
                    raise _Retry(f"unexpected Content-Range {resp.headers.get('content-range')}")
            elif resp.status_code == 200:
                offset, h = 0, hashlib.sha256()  # full body (the server ignored Range)
            elif resp.status_code == 416:
                self.library.discard_partial(entry.sha256)
                raise _Retry("range not satisfiable: starting over")
            elif resp.status_code >= 500 or resp.status_code in (408, 429):
                raise _Retry(f"HTTP {resp.status_code}")
            else:
                raise DownloadError(f"{self.url}: HTTP {resp.status_code}")
            length = resp.headers.get("content-length")
            encoded = resp.headers.get("content-encoding", "identity") != "identity"
            if length and length.isdigit() and not encoded and offset + int(length) != entry.size:
                raise _Mismatch(f"server sends {offset + int(length)} bytes, "
                                f"manifest says {entry.size}")
            written = offset
            writer = self.library.open_partial(entry.sha256, offset)
            try:
                async for chunk in resp.aiter_bytes():  # as received: no re-chunking buffer
                    if written + len(chunk) > entry.size:
                        raise _Mismatch(f"more than the {entry.size} bytes the manifest says")
                    writer.write(chunk)
                    h.update(chunk)
                    written += len(chunk)
                    self.received += len(chunk)
                    if self.progress is not None:
                        self.progress(written, entry.size)
            finally:
                writer.close()
                self._resume = (written, h.copy())
        if written != entry.size:
            raise _Retry(f"body ended at {written} of {entry.size} bytes")
        await self._finish(h)

    async def _finish(self, h: hashlib._Hash) -> None:
        if h.hexdigest() != self.entry.sha256:
            raise _Mismatch(f"bytes hash to {h.hexdigest()}")
        await asyncio.to_thread(self.library.commit_partial, self.entry.sha256, h.hexdigest())


async def fetch_file(
    client: httpx.AsyncClient,
    url: str,
    entry: FileEntry,
    library: ContentLibrary,
    *,
    attempts: int = 3,
    progress: Progress | None = None,
    retry_delay_s: float = 0.0,
) -> int:
    """Download `entry` from `url` into `library`; returns the bytes received over the network.

    Raises HashMismatchError when the last try's bytes did not match, DownloadError for network
    and HTTP failures, DiskFullError at once when the disk is full. `retry_delay_s` doubles per
    retry (0 retries at once). Nothing unverified ever lands in `files/`.
    """
    if library.has(entry.sha256, entry.size):
        return 0
    attempt = _Attempt(client, url, entry, library, progress)
    error: DownloadError | None = None
    for n in range(1, max(1, attempts) + 1):
        if n > 1 and retry_delay_s > 0:
            await asyncio.sleep(retry_delay_s * 2 ** (n - 2))
        try:
            await attempt.run()
            return attempt.received
        except _Mismatch as exc:
            attempt.forget_partial()
            error = HashMismatchError(f"{entry.name} ({entry.sha256[:12]}): {exc}")
        except HashMismatchError as exc:  # commit_partial's own check
            attempt.forget_partial()
            error = exc
        except _Retry as exc:
            error = DownloadError(f"{entry.name}: {exc}")
        except httpx.TransportError as exc:
            error = DownloadError(f"{entry.name}: {type(exc).__name__}: {exc or 'no detail'}")
        log.info("content: %s try %d/%d failed: %s", entry.name, n, attempts, error)
    assert error is not None
    raise error
