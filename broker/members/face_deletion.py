"""Deleting a member's face data wherever it is: the controller's side of `face.delete`.

The controller keeps no face data (DESIGN, privacy rules): templates are encrypted on the
terminal where the member enrolled, and that terminal reports `face.enrolled` (member id and
counts only) through the lossless event outbox. A deletion request therefore goes, as a
`face.delete` command with a long expiry, to every terminal that reported an enrolment of the
member — or to every registered terminal (`everywhere`), for an enrolment whose event may not
have arrived yet. Each command's record (`GET /api/commands/{cmd_id}`) carries the terminal's
confirmation: templates deleted, consent withdrawn, nothing remaining. Terminals keep a
persistent MQTT session, so one that is offline gets the command when it reconnects, within
the expiry.
"""

from __future__ import annotations

import orjson
from sqlalchemy import select

from broker import storage
from broker.commands import CommandService
from broker.storage.schema import devices, events

COMMAND = "face.delete"
TTL_S = 7 * 86_400  # a terminal offline for a week still gets it when it comes back


async def terminals_holding(db: storage.Database, member_id: str) -> list[str]:
    """Terminals that reported enrolling `member_id` (a scan of the enrolment events: rare)."""
    query = select(events.c.device_id, events.c.data).where(events.c.type == "face.enrolled")
    found: set[str] = set()
    async with db.read() as conn:
        for device_id, data in await conn.execute(query):
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and doc.get("member_id") == member_id:
                found.add(str(device_id))
    return sorted(found)


async def all_terminals(db: storage.Database) -> list[str]:
    async with db.read() as conn:
        return sorted(str(d) for d in (await conn.execute(select(devices.c.device_id))).scalars())


async def request_face_deletion(db: storage.Database, commands: CommandService, member_id: str,
                                *, everywhere: bool = False) -> list[storage.CommandRecord]:
    """Send `face.delete` to each terminal that may hold the member's face; the records."""
    targets = await (all_terminals(db) if everywhere else terminals_holding(db, member_id))
    return [await commands.send(device, COMMAND, {"member_id": member_id}, ttl_s=TTL_S)
            for device in targets]
