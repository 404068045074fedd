"""A real local content server for the player tests, able to misbehave on demand.

`ContentServer` runs uvicorn (a small Starlette app) in a background thread on a free loopback
port and serves what the controller's content endpoint serves: `/content/manifests/<name>` (the
SignedManifest bytes, ETag = their sha256, If-None-Match -> 304) and `/content/files/<sha256>`
(Range -> 206, ETag = sha256). Tests set `faults` to corrupt a byte, drop the connection
mid-body, ignore Range or answer 500, and read `requests` / `bytes_sent` to see what went over
the wire. Helpers build random files and signed manifests.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from content.manifest import FileEntry, Manifest
from content.signing import sign_manifest
from kiosk.player.plan import ContentPointer


class DroppedConnection(Exception):
    """Raised inside a response body: uvicorn then closes the connection mid-body."""


@dataclass
class Faults:
    """Misbehaviour, per file sha256 unless said; counts are used up one request at a time."""

    corrupt: Counter[str] = field(default_factory=Counter)  # flip a byte in the next n bodies
    corrupt_always: set[str] = field(default_factory=set)
    drop_after: dict[str, int] = field(default_factory=dict)  # next body: stop after n bytes
    hold_after: dict[str, int] = field(default_factory=dict)  # next body: pause after n bytes
    ignore_range: bool = False
    status: Counter[int] = field(default_factory=Counter)  # answer the next n requests with it


@dataclass
class Hit:
    path: str
    range: str | None
    if_none_match: str | None
    status: int


class ContentServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files_dir = root / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.manifests: dict[str, bytes] = {}
        self.faults = Faults()
        self.requests: list[Hit] = []
        self.bytes_sent: Counter[str] = Counter()  # file sha256 -> body bytes written
        self._lock = threading.Lock()
        self.release = threading.Event()  # lets held bodies go on (set by stop)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[
            Route("/content/manifests/{name}", self._manifest),
            Route("/content/files/{sha}", self._file),
        ])
        config = uvicorn.Config(app, log_level="critical", lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    # -- content -----------------------------------------------------------------------------

    def add_file(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        (self.files_dir / sha).write_bytes(data)
        return sha

    def publish(self, raw: bytes, sha256: str | None = None) -> ContentPointer:
        """Serve manifest bytes; the pointer names them by `sha256` (default: their hash)."""
        sha = sha256 or hashlib.sha256(raw).hexdigest()
        self.manifests[f"{sha}.json"] = raw
        return ContentPointer(manifest_url=f"{self.base_url}/content/manifests/{sha}.json",
                              manifest_sha256=sha)

    def file_hits(self, sha: str) -> list[Hit]:
        return [h for h in self.requests if h.path == f"/content/files/{sha}"]

    # -- handlers ----------------------------------------------------------------------------

    def _record(self, request: Request, status: int) -> None:
        with self._lock:
            self.requests.append(Hit(request.url.path, request.headers.get("range"),
                                      request.headers.get("if-none-match"), status))

    def _forced_status(self) -> int | None:
        with self._lock:
            for status, n in self.faults.status.items():
                if n > 0:
                    self.faults.status[status] -= 1
                    return status
        return None

    async def _manifest(self, request: Request) -> Response:
        if (status := self._forced_status()) is not None:
            self._record(request, status)
            return Response(status_code=status)
        raw = self.manifests.get(request.path_params["name"])
        if raw is None:
            self._record(request, 404)
            return Response(status_code=404)
        etag = '"' + hashlib.sha256(raw).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            self._record(request, 304)
            return Response(status_code=304, headers={"ETag": etag})
        self._record(request, 200)
        return Response(raw, media_type="application/json", headers={"ETag": etag})

    async def _file(self, request: Request) -> Response:
        sha = request.path_params["sha"]
        if (status := self._forced_status()) is not None:
            self._record(request, status)
            return Response(status_code=status)
        path = self.files_dir / sha
        if not path.is_file():
            self._record(request, 404)
            return Response(status_code=404)
        data = bytearray(path.read_bytes())
        etag = f'"{sha}"'
        if request.headers.get("if-none-match") == etag:
            self._record(request, 304)
            return Response(status_code=304, headers={"ETag": etag})
        with self._lock:
            corrupt = sha in self.faults.corrupt_always or self.faults.corrupt[sha] > 0
            if self.faults.corrupt[sha] > 0:
                self.faults.corrupt[sha] -= 1
            drop_after = self.faults.drop_after.pop(sha, None)
            hold_after = self.faults.hold_after.pop(sha, None)
        if corrupt:
            data[len(data) // 2] ^= 0xFF
        start, status = 0, 200
        headers = {"ETag": etag, "Accept-Ranges": "bytes"}
        rng = request.headers.get("range")
        if rng and not self.faults.ignore_range:
            first = rng.removeprefix("bytes=").split("-", 1)[0]
            start = int(first)
            if start >= len(data):
                self._record(request, 416)
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = bytes(data[start:])
        headers["Content-Length"] = str(len(body))
        self._record(request, status)
        return StreamingResponse(self._stream(sha, body, drop_after, hold_after),
                                 status_code=status, headers=headers,
                                 media_type="application/octet-stream")

    async def _stream(self, sha: str, body: bytes, drop_after: int | None,
                      hold_after: int | None) -> AsyncIterator[bytes]:
        step = 16 * 1024
        for at in range(0, len(body), step):
            chunk = body[at:at + step]
            if hold_after is not None and at >= hold_after:
                await asyncio.to_thread(self.release.wait)
                hold_after = None
            if drop_after is not None and at + len(chunk) > drop_after:
                chunk = chunk[:max(0, drop_after - at)]
                with self._lock:
                    self.bytes_sent[sha] += len(chunk)
                yield chunk
                raise DroppedConnection(f"dropped after {drop_after} bytes")
            with self._lock:
                self.bytes_sent[sha] += len(chunk)
            yield chunk

    # -- life cycle --------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("content server did not start")
            time.sleep(0.01)  # polling for start-up, not timing anything

    def stop(self) -> None:
        """Stop serving: the port refuses connections afterwards."""
        self.release.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()


def content_server(root: Path) -> Iterator[ContentServer]:
    server = ContentServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def make_manifest(server: ContentServer, key: Ed25519PrivateKey, sizes: list[int] | None = None,
                  *, datas: list[bytes] | None = None, package_id: str = "pkg-1",
                  ) -> tuple[bytes, list[FileEntry]]:
    """Serve random files (or `datas`) and return the signed manifest's bytes and entries."""
    blobs = datas if datas is not None else [random_bytes(n) for n in sizes or []]
    entries = [FileEntry(name=f"ad-{i}.png", sha256=server.add_file(b), size=len(b),
                         media_type="image/png", width=1280, height=800)
               for i, b in enumerate(blobs)]
    manifest = Manifest(package_id=package_id, created_ms=1_700_000_000_000, files=entries)
    return sign_manifest(manifest, key).model_dump_json().encode(), entries
