"""HTTP routes terminals download content from: files and signed manifests by sha256.

Both are immutable (content-addressed), so the ETag is the sha256, `If-None-Match` gets a 304,
clients may cache forever, and `Range` requests resume a broken download (Starlette's
FileResponse answers 206). Open to any client on the console's interface: the bytes are
useless without the signed manifest, and the manifest is useless without the signing key.
"""

# No `from __future__ import annotations`: FastAPI resolves parameter annotations at import.
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Response
from fastapi.responses import FileResponse

from broker.content_store import ContentStore

IMMUTABLE = "public, max-age=31536000, immutable"


def _serve(path: Path | None, sha256: str, media_type: str,
           if_none_match: str | None) -> Response:
    if path is None:
        raise HTTPException(404, f"no content {sha256[:80]!r}")
    etag = f'"{sha256}"'
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"etag": etag, "cache-control": IMMUTABLE})
    return FileResponse(path, media_type=media_type,
                        headers={"etag": etag, "cache-control": IMMUTABLE})


def content_router(get_store: Callable[[], ContentStore | None]) -> APIRouter:
    router = APIRouter(prefix="/content", tags=["content"])

    def store() -> ContentStore:
        s = get_store()
        if s is None:
            raise HTTPException(503, "controller is starting")
        return s

    @router.get("/files/{sha256}")
    async def get_file(
        sha256: str, if_none_match: Annotated[str | None, Header()] = None
    ) -> Response:
        return _serve(store().file_path(sha256), sha256, "application/octet-stream", if_none_match)

    @router.get("/manifests/{sha256}.json")
    async def get_manifest(
        sha256: str, if_none_match: Annotated[str | None, Header()] = None
    ) -> Response:
        etag = f'"{sha256}"'
        if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
            return Response(status_code=304, headers={"etag": etag, "cache-control": IMMUTABLE})
        data = store().manifest_bytes(sha256)
        if data is None:
            raise HTTPException(404, f"no manifest {sha256[:80]!r}")
        return Response(data, media_type="application/json",
                        headers={"etag": etag, "cache-control": IMMUTABLE})

    return router
