"""`face.delete`: the controller asks this terminal to delete a member's face data.

A member may ask for deletion anywhere (another store's terminal, the service desk, the
controller's API); the templates live only on the terminal where they enrolled, so the
controller sends this command to each such terminal (`broker.members.face_deletion`). The
handler deletes every copy here (`enrolment.delete_member`: gallery, encrypted rows, consent),
records the `face.deleted` engagement event, and answers with the confirmation, so the
controller's command record shows what was deleted and that nothing remains. Deleting a member
who has no face data here succeeds with zero counts (idempotent: a repeat is harmless).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kiosk.agent.commands import CommandRunner
from kiosk.face.enrolment import delete_member
from kiosk.face.templates import TemplateStore
from kiosk.face.types import GalleryLike

Recorder = Callable[[str, dict[str, Any]], Awaitable[int]]
COMMAND = "face.delete"


def register_face_commands(runner: CommandRunner, *, store: TemplateStore,
                           gallery: GalleryLike, record: Recorder,
                           clock_ms: Callable[[], int]) -> None:
    async def delete(args: dict[str, Any]) -> dict[str, Any]:
        member_id = args.get("member_id")
        if not isinstance(member_id, str) or not 0 < len(member_id) <= 64:
            raise ValueError("face.delete needs a member_id (1-64 characters)")
        confirmation = await delete_member(member_id, store=store, gallery=gallery,
                                           now_ms=clock_ms())
        kind, data = confirmation.event()
        await record(kind, data)
        return {**data, "complete": confirmation.complete}

    runner.register(COMMAND, delete)
