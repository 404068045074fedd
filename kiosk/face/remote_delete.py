"""`face.delete` in a terminal process, without loading the face pipeline until it is used.

The device agent (`kiosk agent`) and the touchscreen app register this at start; the face
modules (OpenCV, the template store) are imported only when a deletion arrives. It opens
`face.sqlite` under the terminal's data directory only if it exists, so a terminal that never
enrolled anyone creates no face files and answers with zero counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kiosk.agent.commands import CommandRunner
from kiosk.face.types import GalleryLike, Match, Vector

Recorder = Callable[[str, dict[str, Any]], Awaitable[int]]
COMMAND = "face.delete"
STORE_FILE = "face.sqlite"


class _NoGallery:
    """For a process that keeps no gallery in memory (the plain device agent)."""

    def __len__(self) -> int:
        return 0

    def add(self, member_id: str, template_id: str, vector: Vector) -> None:
        raise RuntimeError("this process keeps no gallery")

    def remove_member(self, member_id: str) -> int:
        return 0

    def search(self, vector: Vector, k: int = 2) -> list[Match]:
        return []


def register_face_deletion_on_disk(runner: CommandRunner, data_dir: Path, *,
                                   gallery: GalleryLike | None, record: Recorder,
                                   clock_ms: Callable[[], int]) -> None:
    """`face.delete` for a terminal process: opens `face.sqlite` under `data_dir` for each
    command, only if it exists (a terminal that never enrolled anyone creates no face files),
    and deletes from it and from `gallery` when this process keeps one."""
    in_memory: GalleryLike = gallery if gallery is not None else _NoGallery()

    async def delete(args: dict[str, Any]) -> dict[str, Any]:
        from kiosk.face import keystore
        from kiosk.face.commands import delete_face_data, member_arg
        from kiosk.face.templates import TemplateStore

        member_id = member_arg(args)
        path = data_dir / STORE_FILE
        if not path.exists():
            return {"member_id": member_id, "deleted_at_ms": clock_ms(), "templates_deleted": 0,
                    "gallery_removed": in_memory.remove_member(member_id),
                    "consents_withdrawn": 0, "remaining": 0, "complete": True}
        store = await TemplateStore.open(path, keystore.load_or_create(data_dir))
        try:
            return await delete_face_data(args, store=store, gallery=in_memory,
                                          record=record, clock_ms=clock_ms)
        finally:
            await store.close()

    runner.register(COMMAND, delete)
