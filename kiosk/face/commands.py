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
STORE_FILE = "face.sqlite"


def member_arg(args: dict[str, Any]) -> str:
    member_id = args.get("member_id")
    if not isinstance(member_id, str) or not 0 < len(member_id) <= 64:
        raise ValueError("face.delete needs a member_id (1-64 characters)")
    return member_id


async def delete_face_data(args: dict[str, Any], *, store: TemplateStore,
                           gallery: GalleryLike, record: Recorder,
                           clock_ms: Callable[[], int]) -> dict[str, Any]:
    """Delete the member's face data, record `face.deleted`, return the confirmation."""
    confirmation = await delete_member(member_arg(args), store=store, gallery=gallery,
                                       now_ms=clock_ms())
    kind, data = confirmation.event()
    await record(kind, data)
    return {**data, "complete": confirmation.complete}


def register_face_commands(runner: CommandRunner, *, store: TemplateStore,
                           gallery: GalleryLike, record: Recorder,
                           clock_ms: Callable[[], int]) -> None:
    """`face.delete` against an open store and the process's gallery."""
    async def delete(args: dict[str, Any]) -> dict[str, Any]:
        return await delete_face_data(args, store=store, gallery=gallery, record=record,
                                      clock_ms=clock_ms)

    runner.register(COMMAND, delete)
