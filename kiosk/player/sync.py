"""From a `down/config` content pointer to an activated, verified manifest.

`ContentSync.apply(pointer)`:

1. nothing to do when the pointer's manifest is already active and complete (no network);
2. GET the manifest (If-None-Match with its sha256 when a copy is on disk; 304 reuses it),
   check that its bytes hash to `manifest_sha256`, parse it, verify the signature: any of these
   failing gives `status="rejected"` and changes nothing;
3. make room (evicting unused files; DiskFullError when the quota cannot hold the new files
   next to the active ones), download the missing files, at most `concurrency` at a time;
4. activate atomically, then evict down to the quota.

Network failures, hashes that never match and a full disk give `status="failed"` with the
reason; the last good manifest stays active (partial downloads are kept for the next try).

Superseding: `apply` calls are serialized. A caller that gets pointers from MQTT uses
`request(pointer)`, which keeps only the latest: it cancels a sync still running for an older
pointer (its finished files and partial downloads stay, so files the two manifests share are
not fetched twice) and starts one for the new pointer. The superseded task ends cancelled.
Retrying a failed sync (on a timer, on reconnect) is the caller's: call `request` again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from content.manifest import FileEntry, SignedManifest
from content.signing import SignatureError, verify_manifest
from kiosk.player.download import fetch_file
from kiosk.player.errors import ContentError, DiskFullError, DownloadError
from kiosk.player.library import ContentLibrary, TrustedKeys
from kiosk.player.plan import ContentPointer

log = logging.getLogger(__name__)

SyncStatus = Literal["unchanged", "activated", "rejected", "failed"]
SyncProgress = Callable[[int, int], None]  # (bytes on disk of the missing files, their total)
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # building one costs ~10 ms: once per process


def default_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0), follow_redirects=True,
                             verify=_tls_context())


@dataclass(frozen=True, slots=True)
class SyncResult:
    status: SyncStatus
    manifest_sha256: str | None = None
    package_id: str | None = None
    reason: str | None = None
    files_fetched: int = 0
    bytes_fetched: int = 0
    evicted: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "activated")

    def to_json(self) -> dict[str, Any]:
        """For the agent's reported state or an event."""
        return asdict(self)


class _Rejected(Exception):
    pass


class ContentSync:
    def __init__(
        self,
        library: ContentLibrary,
        trusted_keys: TrustedKeys | None = None,
        *,
        client_factory: Callable[[], httpx.AsyncClient] = default_client,
        concurrency: int = 4,
        attempts: int = 3,
        retry_delay_s: float = 0.5,
        max_manifest_bytes: int = MAX_MANIFEST_BYTES,
        progress: SyncProgress | None = None,
    ) -> None:
        self.library = library
        self.trusted_keys = library.trusted_keys if trusted_keys is None else trusted_keys
        self.client_factory = client_factory
        self._client: httpx.AsyncClient | None = None
        self.concurrency = max(1, concurrency)
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s
        self.max_manifest_bytes = max_manifest_bytes
        self.progress = progress
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[SyncResult] | None = None
        self._task_pointer: ContentPointer | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = self.client_factory()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- latest-wins front door ------------------------------------------------------------

    def request(self, pointer: ContentPointer | Mapping[str, Any]) -> asyncio.Task[SyncResult]:
        """Sync to `pointer`, superseding (cancelling) a sync for a different pointer."""
        try:
            parsed = ContentPointer.parse(pointer)
        except ValidationError:
            parsed = None
        task = self._task
        if task is not None and not task.done():
            if parsed is not None and parsed == self._task_pointer:
                return task
            log.info("content: superseding the sync of %s", self._task_pointer)
            task.cancel()
        self._task = asyncio.create_task(self.apply(pointer))
        self._task_pointer = parsed
        return self._task

    # -- one sync --------------------------------------------------------------------------

    async def apply(self, pointer: ContentPointer | Mapping[str, Any]) -> SyncResult:
        try:
            ptr = ContentPointer.parse(pointer)
        except ValidationError as exc:
            return SyncResult("rejected", reason=f"bad content pointer: {_first_line(exc)}")
        async with self._lock:
            result = await self._apply(ptr)
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "content sync %s: %s%s", ptr.manifest_sha256[:12], result.status,
                f" ({result.reason})" if result.reason else "")
        return result

    async def _apply(self, ptr: ContentPointer) -> SyncResult:
        lib = self.library
        current = await asyncio.to_thread(lib.current)
        if (current is not None and current.sha256 == ptr.manifest_sha256
                and not await asyncio.to_thread(lib.missing, current.manifest)):
            return SyncResult("unchanged", ptr.manifest_sha256, current.manifest.package_id)
        cached = current.raw if current is not None and current.sha256 == ptr.manifest_sha256 \
            else await asyncio.to_thread(lib.pending_bytes, ptr.manifest_sha256)
        package_id: str | None = None
        try:
            client = self._http()  # kept between syncs: connections to the server are reused
            inline = ptr.manifest.encode() if ptr.manifest is not None else None
            if inline is not None and hashlib.sha256(inline).hexdigest() == ptr.manifest_sha256:
                raw = inline  # sent with the config: no request needed
            else:
                raw = await self._fetch_manifest(client, ptr, cached)
            signed = self._check_manifest(raw, ptr)
            package_id = signed.manifest.package_id
            missing = lib.missing(signed.manifest)
            if cached is None and missing:  # kept for a retry of the downloads
                await asyncio.to_thread(lib.save_pending, raw)
            evicted = await asyncio.to_thread(lib.make_room, signed.manifest) if missing else []
            fetched, nbytes = await self._fetch_files(client, ptr, missing)
            await asyncio.to_thread(lib.activate, signed, raw)
            evicted += await asyncio.to_thread(lib.evict)
        except _Rejected as exc:
            return SyncResult("rejected", ptr.manifest_sha256, package_id, str(exc))
        except DiskFullError as exc:
            return SyncResult("failed", ptr.manifest_sha256, package_id, f"disk full: {exc}")
        except (ContentError, httpx.HTTPError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, httpx.HTTPError) and not isinstance(exc, DownloadError):
                reason = f"{type(exc).__name__}: {reason}"
            return SyncResult("failed", ptr.manifest_sha256, package_id, reason)
        return SyncResult("activated", ptr.manifest_sha256, package_id, None, fetched, nbytes,
                          len(evicted))

    async def _fetch_manifest(self, client: httpx.AsyncClient, ptr: ContentPointer,
                              cached: bytes | None) -> bytes:
        headers = {"If-None-Match": f'"{ptr.manifest_sha256}"'} if cached is not None else {}
        async with client.stream("GET", ptr.manifest_url, headers=headers) as resp:
            if resp.status_code == 304 and cached is not None:
                return cached
            if resp.status_code != 200:
                raise DownloadError(f"manifest: HTTP {resp.status_code}")
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > self.max_manifest_bytes:
                    raise _Rejected(f"manifest larger than {self.max_manifest_bytes} bytes")
        return bytes(body)

    def _check_manifest(self, raw: bytes, ptr: ContentPointer) -> SignedManifest:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != ptr.manifest_sha256:
            raise _Rejected(f"manifest bytes hash to {digest}, pointer says "
                            f"{ptr.manifest_sha256}")
        try:
            signed = SignedManifest.model_validate_json(raw)
        except ValidationError as exc:
            raise _Rejected(f"malformed manifest: {_first_line(exc)}") from None
        try:
            verify_manifest(signed, self.trusted_keys)
        except SignatureError as exc:
            raise _Rejected(str(exc)) from None
        return signed

    async def _fetch_files(self, client: httpx.AsyncClient, ptr: ContentPointer,
                           missing: list[FileEntry]) -> tuple[int, int]:
        if not missing:
            return 0, 0
        total = sum(e.size for e in missing)
        done = {e.sha256: self.library.partial_size(e.sha256) for e in missing}
        received = 0
        sem = asyncio.Semaphore(self.concurrency)

        def on_progress(sha: str) -> Callable[[int, int], None]:
            def update(on_disk: int, _size: int) -> None:
                done[sha] = on_disk
                if self.progress is not None:
                    self.progress(sum(done.values()), total)
            return update

        async def one(entry: FileEntry) -> None:
            nonlocal received
            async with sem:
                n = await fetch_file(
                    client, ptr.file_url(entry.sha256), entry, self.library,
                    attempts=self.attempts, retry_delay_s=self.retry_delay_s,
                    progress=on_progress(entry.sha256))
            received += n  # after the await: `received += await ...` would lose updates

        try:
            async with asyncio.TaskGroup() as tg:
                for entry in missing:
                    tg.create_task(one(entry))
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        return len(missing), received


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _first_error(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first
