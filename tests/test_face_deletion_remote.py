"""A member asks the controller to delete their face: the request reaches the terminal that
enrolled them (found from its `face.enrolled` event), which deletes every copy and confirms;
a terminal that never held the face is not bothered, and a repeat is harmless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
from checkout_fixtures import open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision, wait_until

from broker.mosquitto import ManagedBroker
from broker.storage import events as events_db
from kiosk.face import keystore
from kiosk.face.consent import NOTICE, ConsentRecord, Grant, Purpose
from kiosk.face.enrolment import EnrolResult
from kiosk.face.gallery import Gallery
from kiosk.face.remote_delete import register_face_deletion_on_disk
from kiosk.face.synthetic import people
from kiosk.face.templates import TemplateStore

pytestmark = needs_mosquitto
ADMIN = {"Authorization": "Bearer test-admin-token"}


async def test_deletion_requested_at_the_controller_reaches_the_enrolling_terminal(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        assert shop.http is not None and shop.c.db is not None
        enrolling = agent_for(await provision(shop.c, "till-f1"), tmp_path / "f1")
        other = agent_for(await provision(shop.c, "till-f2"), tmp_path / "f2")
        store = await TemplateStore.open(tmp_path / "f1" / "face.sqlite",
                                         keystore.load_or_create(tmp_path / "f1"))
        gallery = Gallery(background=False)
        # as `kiosk agent` / `kiosk app` register it: the store is opened per command
        register_face_deletion_on_disk(enrolling.commands, tmp_path / "f1", gallery=gallery,
                                       record=enrolling.record, clock_ms=now_ms)
        register_face_deletion_on_disk(other.commands, tmp_path / "f2", gallery=None,
                                       record=other.record, clock_ms=now_ms)
        await run_agent(enrolling)
        await run_agent(other)

        # Mia and Leo enrolled at till-f1 (templates encrypted there; the event has no face)
        vectors = people(2, np.random.default_rng(7))
        for member, vec in zip(("m-mia", "m-leo"), vectors, strict=True):
            consent = ConsentRecord(member_id=member,
                                    grants=(Grant(Purpose.FACE_PAYMENT, "tick-pay"),),
                                    notice_version=NOTICE.version,
                                    notice_hash=NOTICE.text_hash, given_at_ms=now_ms(),
                                    declared_age=30)
            await store.put_member(member, [(f"{member}-t1", vec)], consent, now_ms())
            gallery.add(member, f"{member}-t1", vec)
            await enrolling.record(*EnrolResult(member, True, template_ids=(f"{member}-t1",),
                                                consent_id=consent.consent_id).event())

        async def enrolment_reported() -> bool:
            return await events_db.count_events(shop.c.db, "till-f1") >= 2  # type: ignore[arg-type]
        await wait_until(enrolment_reported, what="the enrolment events at the controller")

        url = f"http://127.0.0.1:{shop.http.port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.post("/api/members/m-mia/face-deletion")).status_code == 401
            r = await http.post("/api/members/m-mia/face-deletion", headers=ADMIN)
            assert r.status_code == 202, r.text
            sent = r.json()["commands"]
            assert [c["device_id"] for c in sent] == ["till-f1"]  # not till-f2

            async def confirmed() -> dict[str, Any] | None:
                got = (await http.get(f"/api/commands/{sent[0]['cmd_id']}",
                                      headers=ADMIN)).json()
                return got if got["status"] in {"done", "failed"} else None

            await wait_until(confirmed, what="the terminal's confirmation")
            done = await confirmed()
            assert done is not None and done["status"] == "done", done
            result = done["result"]
            assert result["member_id"] == "m-mia" and result["complete"] is True
            assert result["templates_deleted"] == 1 and result["remaining"] == 0

            # on the terminal: Mia is gone everywhere, Leo untouched
            assert await store.count("m-mia") == 0 and await store.count("m-leo") == 1
            assert [m.member_id for m in gallery.search(vectors[0], k=5)] == ["m-leo"]
            consent = await store.consent_for("m-mia")
            assert consent is None or consent.withdrawn_at_ms is not None

            # everywhere: both terminals asked; a repeat deletes nothing more and still confirms
            again = await http.post("/api/members/m-mia/face-deletion?everywhere=true",
                                    headers=ADMIN)
            assert sorted(c["device_id"] for c in again.json()["commands"]) == [
                "till-f1", "till-f2"]
            for cmd in again.json()["commands"]:
                async def final(cmd_id: str = cmd["cmd_id"]) -> bool:
                    got = (await http.get(f"/api/commands/{cmd_id}", headers=ADMIN)).json()
                    return bool(got["status"] == "done")
                await wait_until(final, what=f"the repeat at {cmd['device_id']}")
                got = (await http.get(f"/api/commands/{cmd['cmd_id']}", headers=ADMIN)).json()
                assert got["result"]["templates_deleted"] == 0 and got["result"]["complete"]
            assert not (tmp_path / "f2" / "face.sqlite").exists()  # never enrolled: no files
        await store.close()
