"""Encrypted face templates and consent records, in their own SQLite file (`face.sqlite`).

Own file, not a table in `agent.sqlite`: the biometric data can then be wiped, excluded from
backups and permission-checked as one file, and the outbox's constant churn never shares pages
(or the WAL) with it. Mode 0600; SQLite gives its -wal/-shm files the same mode.

A row holds `nonce(12) ‖ AES-256-GCM(float32 little-endian template)` with associated data
binding the member id and template id: a row edited, or copied to another member or template
id, no longer decrypts. The key (`keystore`) is not in this file. Only templates — 128 numbers —
are stored; no image ever reaches this module. `PRAGMA secure_delete=ON` overwrites deleted
rows' bytes, and a delete ends with a WAL checkpoint(TRUNCATE) so no old page lingers in the WAL.
What SQLite cannot reach (flash wear-levelling) only ever held ciphertext under this key.

At start-up `load_into` fills the 1:N gallery. A row that does not decrypt is moved to
`face_quarantine` with the reason, logged and skipped: one bad row never stops face payment for
everyone else. Quarantined rows still belong to their member and are deleted with them.

Consent records live here too (`face_consent`, JSON). Withdrawing keeps the record, marked
withdrawn: it holds no face data, and is the proof that consent existed and when it ended.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.face.consent import ConsentRecord
from kiosk.face.keystore import FaceKey
from kiosk.face.types import GalleryLike, Vector

log = logging.getLogger(__name__)
DIM = 128
NONCE = 12
DAY_MS = 86_400_000
_COLS = "template_id, member_id, key_id, sealed, consent_id, created_at_ms"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS face_template (
    template_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, key_id TEXT NOT NULL,
    sealed BLOB NOT NULL, consent_id TEXT NOT NULL, created_at_ms INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS face_template_member ON face_template (member_id);
CREATE TABLE IF NOT EXISTS face_quarantine (
    template_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, key_id TEXT NOT NULL,
    sealed BLOB NOT NULL, consent_id TEXT NOT NULL, created_at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS face_quarantine_member ON face_quarantine (member_id);
CREATE TABLE IF NOT EXISTS face_consent (
    consent_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, record TEXT NOT NULL,
    inactive_days INTEGER NOT NULL, withdrawn_at_ms INTEGER);
CREATE INDEX IF NOT EXISTS face_consent_member ON face_consent (member_id);
"""


class TemplateError(ValueError):
    """A stored template cannot be used; the message says why."""


def _aad(member_id: str, template_id: str) -> bytes:
    return json.dumps(["kiosk-face-template/1", member_id, template_id]).encode()


def seal(key: FaceKey, member_id: str, template_id: str, vector: Vector) -> bytes:
    """Encrypt one 128-d template for one (member, template id)."""
    v = np.asarray(vector, dtype="<f4")
    if v.shape != (DIM,) or not np.isfinite(v).all():
        raise TemplateError(f"template must be {DIM} finite numbers, got shape {v.shape}")
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key.secret).encrypt(nonce, v.tobytes(), _aad(member_id, template_id))


def unseal(key: FaceKey, member_id: str, template_id: str, sealed: bytes) -> Vector:
    try:
        plain = AESGCM(key.secret).decrypt(sealed[:NONCE], sealed[NONCE:],
                                           _aad(member_id, template_id))
    except InvalidTag:
        raise TemplateError("does not decrypt: altered, or moved to another member") from None
    if len(plain) != 4 * DIM:
        raise TemplateError(f"decrypts to {len(plain)} bytes, not {4 * DIM}")
    vector = np.frombuffer(plain, dtype="<f4").astype(np.float32)
    if not np.isfinite(vector).all():
        raise TemplateError("decrypts to numbers that are not finite")
    return vector


@dataclass(frozen=True, slots=True)
class LoadReport:
    loaded: int
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (template id, reason)


class TemplateStore:
    def __init__(self, db: aiosqlite.Connection, key: FaceKey) -> None:
        self._db, self._key = db, key

    @classmethod
    async def open(cls, path: Path, key: FaceKey) -> TemplateStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # private before SQLite opens
        db = await aiosqlite.connect(path)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000",
                       "secure_delete=ON"):
            await db.execute(f"PRAGMA {pragma}")
        await db.executescript(_SCHEMA)
        await db.commit()
        return cls(db, key)

    async def close(self) -> None:
        await self._db.close()

    async def put_member(self, member_id: str, templates: Sequence[tuple[str, Vector]],
                         consent: ConsentRecord, now_ms: int) -> None:
        """Store the member's consent and templates in one transaction, replacing any earlier
        templates of theirs (re-enrolment)."""
        rows = [(tid, member_id, self._key.key_id, seal(self._key, member_id, tid, v),
                 consent.consent_id, now_ms, now_ms) for tid, v in templates]
        await self._delete_rows(member_id)
        await self._db.execute(
            "INSERT OR REPLACE INTO face_consent VALUES (?, ?, ?, ?, ?)",
            (consent.consent_id, member_id, json.dumps(consent.to_dict()),
             consent.inactive_days, consent.withdrawn_at_ms))
        await self._db.executemany(
            "INSERT INTO face_template VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        await self._db.commit()

    async def count(self, member_id: str | None = None) -> int:
        """Template rows, quarantined ones included (for one member, or all)."""
        where, args = ("WHERE member_id = ?", (member_id,)) if member_id else ("", ())
        total = 0
        for table in ("face_template", "face_quarantine"):
            async with self._db.execute(f"SELECT COUNT(*) FROM {table} {where}", args) as cur:
                row = await cur.fetchone()
            total += int(row[0]) if row else 0
        return total

    async def _delete_rows(self, member_id: str) -> int:
        n = 0
        for table in ("face_template", "face_quarantine"):
            cur = await self._db.execute(f"DELETE FROM {table} WHERE member_id = ?", (member_id,))
            n += cur.rowcount
        return n

    async def delete_member(self, member_id: str) -> int:
        """Delete every template row of the member (quarantined too); how many went."""
        n = await self._delete_rows(member_id)
        await self._db.commit()
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    async def consent_for(self, member_id: str) -> ConsentRecord | None:
        """The member's newest consent record that is not withdrawn."""
        async with self._db.execute(
                "SELECT record FROM face_consent WHERE member_id = ? AND withdrawn_at_ms IS NULL "
                "ORDER BY json_extract(record, '$.given_at_ms') DESC LIMIT 1",
                (member_id,)) as cur:
            row = await cur.fetchone()
        return ConsentRecord.from_dict(json.loads(row[0])) if row else None

    async def withdraw_consents(self, member_id: str, now_ms: int) -> int:
        """Mark the member's live consent records withdrawn; how many were."""
        async with self._db.execute(
                "SELECT record FROM face_consent WHERE member_id = ? AND withdrawn_at_ms IS NULL",
                (member_id,)) as cur:
            records = [ConsentRecord.from_dict(json.loads(r[0])) for r in await cur.fetchall()]
        for rec in records:
            await self._db.execute(
                "UPDATE face_consent SET record = ?, withdrawn_at_ms = ? WHERE consent_id = ?",
                (json.dumps(rec.withdraw(now_ms).to_dict()), now_ms, rec.consent_id))
        await self._db.commit()
        return len(records)

    async def touch(self, member_id: str, now_ms: int) -> None:
        """The member's face was used (a payment or sign-in): restart the inactivity clock."""
        await self._db.execute("UPDATE face_template SET last_used_ms = ? WHERE member_id = ?",
                               (now_ms, member_id))
        await self._db.commit()

    async def inactive_members(self, now_ms: int) -> list[str]:
        """Members whose face went unused longer than their consent's retention allows."""
        async with self._db.execute(
                "SELECT t.member_id FROM face_template t JOIN face_consent c "
                "ON c.consent_id = t.consent_id GROUP BY t.member_id "
                "HAVING MAX(t.last_used_ms) + MIN(c.inactive_days) * ? < ?",
                (DAY_MS, now_ms)) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def load_into(self, gallery: GalleryLike, now_ms: int) -> LoadReport:
        """Decrypt every template into `gallery`; quarantine (and log) the ones that fail.
        Rows are read by rowid with `sealed` cast to bytes, so even a row edited into the wrong
        types (text, invalid UTF-8) is quarantined rather than failing the whole load."""
        bad: list[tuple[int, str, str]] = []
        self._db.text_factory = lambda b: b.decode("utf-8", "replace")
        try:
            async with self._db.execute(
                    "SELECT rowid, template_id, member_id, key_id, CAST(sealed AS BLOB) "
                    "FROM face_template") as cur:
                rows = await cur.fetchall()
        finally:
            self._db.text_factory = str
        good: list[tuple[str, str, Vector]] = []
        for rowid, tid, member_id, key_id, sealed in rows:
            try:
                if key_id != self._key.key_id:
                    raise TemplateError(f"sealed under key {key_id}, this terminal has "
                                        f"{self._key.key_id}")
                good.append((member_id, tid, unseal(self._key, member_id, tid, bytes(sealed))))
            except (TemplateError, ValueError, TypeError) as exc:
                log.warning("face template %s of member %s quarantined: %s", tid, member_id, exc)
                bad.append((rowid, tid, str(exc)))
        add_many = getattr(gallery, "add_many", None)  # `Gallery` builds its index once then
        if add_many is not None:
            add_many(good)
        else:
            for member_id, tid, vector in good:
                gallery.add(member_id, tid, vector)
        for rowid, _, reason in bad:
            await self._db.execute(
                f"INSERT OR REPLACE INTO face_quarantine SELECT {_COLS}, ?, ? FROM face_template "
                "WHERE rowid = ?", (reason, now_ms, rowid))
            await self._db.execute("DELETE FROM face_template WHERE rowid = ?", (rowid,))
        await self._db.commit()
        return LoadReport(len(good), [(tid, reason) for _, tid, reason in bad])
