"""Enrolling a member's face, and deleting it again.

Enrolment (DESIGN "Privacy rules for faces"): a valid, separate consent first (`consent`);
then frames from the camera, each judged by the quality gate (`quality`) with a reason the
screen shows when one is refused; `frames` good ones, which must all show the same person;
the `keep` most typical of them become templates, sealed in the store (`templates`) and added
to the 1:N gallery. A face already enrolled to another member is refused (one face, one member:
otherwise payment would have to guess). Frames live only in this function's loop: nothing here
keeps, logs or writes an image, and `FaceFound` carries no pixels.

`Enrolment` is the pure state machine; `enrol` drives it with the camera, encoder, store and
gallery injected. `delete_member` removes every copy — gallery first, so the face stops paying
at once, then every store row (quarantined ones too), then withdraws the consent — checks
that nothing is left, and returns the confirmation the screen shows and the controller gets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from kiosk.face.consent import ConsentRecord, Problem, validate
from kiosk.face.quality import QualityLimits, Refusal, assess, sharpness
from kiosk.face.templates import TemplateStore
from kiosk.face.types import Encoder, FaceFound, Frame, GalleryLike, Vector

DEFAULT_QUALITY = QualityLimits()


class Stage(StrEnum):
    NEED_CONSENT = "need_consent"
    COLLECTING = "collecting"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EnrolLimits:
    frames: int = 5  # good frames to collect
    keep: int = 3  # templates stored
    same_person: float = 0.45  # max pairwise distance between the good frames
    duplicate: float = 0.45  # another member this close already owns this face
    max_frames: int = 150  # give up (about 10 s of camera) without enough good frames


@dataclass(frozen=True, slots=True)
class FrameFeedback:
    """What the screen says after one frame."""

    accepted: bool
    reasons: tuple[Refusal, ...]
    collected: int
    needed: int


@dataclass(frozen=True, slots=True)
class EnrolResult:
    member_id: str
    ok: bool
    problems: tuple[Problem, ...] = ()
    template_ids: tuple[str, ...] = ()
    consent_id: str = ""
    frames_seen: int = 0

    def event(self) -> tuple[str, dict[str, Any]]:
        """An engagement event for `agent.record(*result.event())` (no face data in it)."""
        return ("face.enrolled" if self.ok else "face.enrol_failed",
                {"member_id": self.member_id, "templates": len(self.template_ids),
                 "consent_id": self.consent_id, "problems": [p.code for p in self.problems]})


class Enrolment:
    """The pure part: consent, then frames, then the chosen templates."""

    def __init__(self, member_id: str, limits: EnrolLimits = EnrolLimits(),
                 quality: QualityLimits = DEFAULT_QUALITY) -> None:
        self.member_id, self.limits, self.quality = member_id, limits, quality
        self.stage = Stage.NEED_CONSENT
        self.consent: ConsentRecord | None = None
        self.problems: tuple[Problem, ...] = ()
        self._good: list[Vector] = []

    def give_consent(self, record: ConsentRecord) -> tuple[Problem, ...]:
        problems = validate(record)
        if record.member_id != self.member_id:
            problems += (Problem("wrong_member", f"consent is for {record.member_id!r}"),)
        if problems:
            return self._fail(*problems)
        self.consent, self.stage = record, Stage.COLLECTING
        return ()

    def _fail(self, *problems: Problem) -> tuple[Problem, ...]:
        self.stage, self.problems = Stage.FAILED, problems
        return problems

    @property
    def ready(self) -> bool:
        return len(self._good) >= self.limits.frames

    def offer(self, frame_hw: tuple[int, int], faces: Sequence[FaceFound],
              sharp: float | None) -> FrameFeedback:
        """Judge one frame's faces (`sharp`: `quality.sharpness` of the largest)."""
        if self.stage is not Stage.COLLECTING:
            raise RuntimeError(f"enrolment is {self.stage}, not collecting")
        verdict = assess(frame_hw, faces, sharp, self.quality)
        if verdict.ok and verdict.face is not None and not self.ready:
            self._good.append(np.asarray(faces[verdict.face].encoding, dtype=np.float32))
        return FrameFeedback(verdict.ok, verdict.reasons, len(self._good), self.limits.frames)

    def choose(self) -> list[Vector]:
        """The `keep` most typical good frames' templates, or [] with `problems` set when the
        frames do not all show one person."""
        good = np.stack(self._good)
        dist = np.linalg.norm(good[:, None, :] - good[None, :, :], axis=2)
        worst = float(dist.max())
        if worst > self.limits.same_person:
            self._fail(Problem("different_people",
                               f"frames differ by {worst:.2f} (> {self.limits.same_person})"))
            return []
        order = np.argsort(dist.sum(axis=1))[: self.limits.keep]
        return [good[i] for i in sorted(order)]


async def _frames(source: AsyncIterable[Frame] | Iterable[Frame]) -> AsyncIterable[Frame]:
    if isinstance(source, AsyncIterable):
        async for frame in source:
            yield frame
    else:
        for frame in source:
            yield frame


async def enrol(member_id: str, consent: ConsentRecord,
                frames: AsyncIterable[Frame] | Iterable[Frame], *, encoder: Encoder,
                store: TemplateStore, gallery: GalleryLike, clock_ms: Callable[[], int],
                on_feedback: Callable[[FrameFeedback], None] | None = None,
                new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                limits: EnrolLimits = EnrolLimits(),
                quality: QualityLimits = DEFAULT_QUALITY) -> EnrolResult:
    """Run one enrolment; the encoder must return landmarks (the gate judges pose by them)."""
    flow = Enrolment(member_id, limits, quality)
    if problems := flow.give_consent(consent):
        return EnrolResult(member_id, False, problems)
    seen = 0
    async for frame in _frames(frames):
        seen += 1
        faces = await asyncio.to_thread(encoder, frame)
        sharp = sharpness(frame, max(faces, key=lambda f: f.height).box) if faces else None
        feedback = flow.offer(frame.shape[:2], faces, sharp)
        del frame, faces  # the frame is not kept past its own turn of the loop
        if on_feedback:
            on_feedback(feedback)
        if flow.ready or seen >= limits.max_frames:
            break
    if not flow.ready:
        short = Problem("not_enough_frames", f"{seen} frames, too few good ones; try again")
        return EnrolResult(member_id, False, (short,), frames_seen=seen)
    vectors = flow.choose()
    if not vectors:
        return EnrolResult(member_id, False, flow.problems, frames_seen=seen)
    centre = np.mean(vectors, axis=0).astype(np.float32)
    for match in gallery.search(centre, k=2):
        if match.member_id != member_id and match.distance <= limits.duplicate:
            return EnrolResult(member_id, False, (Problem(
                "already_enrolled", "this face is enrolled to another member"),), frames_seen=seen)
    ids = [new_id() for _ in vectors]
    await store.put_member(member_id, list(zip(ids, vectors, strict=True)), consent, clock_ms())
    gallery.remove_member(member_id)
    for tid, vector in zip(ids, vectors, strict=True):
        gallery.add(member_id, tid, vector)
    return EnrolResult(member_id, True, (), tuple(ids), consent.consent_id, seen)


@dataclass(frozen=True, slots=True)
class DeletionConfirmation:
    """What was deleted, when, and that nothing is left (`remaining` 0)."""

    member_id: str
    deleted_at_ms: int
    templates_deleted: int  # encrypted rows in the terminal's store (quarantined included)
    gallery_removed: int  # templates dropped from the in-memory gallery
    consents_withdrawn: int
    remaining: int = 0
    notes: tuple[str, ...] = field(default=(
        "no face image was ever stored",
        "the consent record is kept, marked withdrawn, as proof; it holds no face data"))

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    def event(self) -> tuple[str, dict[str, Any]]:
        return ("face.deleted", {
            "member_id": self.member_id, "deleted_at_ms": self.deleted_at_ms,
            "templates_deleted": self.templates_deleted, "gallery_removed": self.gallery_removed,
            "consents_withdrawn": self.consents_withdrawn, "remaining": self.remaining})

    def message(self, lang: str = "zh") -> str:
        if not self.complete:
            return ("删除未完成，请联系店员" if lang == "zh"
                    else "Deletion is not complete; please ask staff")
        n = self.templates_deleted
        return (f"您的人脸数据已删除（{n} 个加密特征），刷脸功能已关闭。" if lang == "zh" else
                f"Your face data is deleted ({n} encrypted templates); face use is off.")


async def delete_member(member_id: str, *, store: TemplateStore, gallery: GalleryLike,
                        now_ms: int) -> DeletionConfirmation:
    """Delete every copy of the member's face data on this terminal and confirm it."""
    in_gallery = gallery.remove_member(member_id)
    rows = await store.delete_member(member_id)
    withdrawn = await store.withdraw_consents(member_id, now_ms)
    remaining = await store.count(member_id) + gallery.remove_member(member_id)
    return DeletionConfirmation(member_id, now_ms, rows, in_gallery, withdrawn, remaining)


async def purge_inactive(store: TemplateStore, gallery: GalleryLike,
                         now_ms: int) -> list[DeletionConfirmation]:
    """Retention: delete every member whose face went unused past their consent's limit."""
    return [await delete_member(m, store=store, gallery=gallery, now_ms=now_ms)
            for m in await store.inactive_members(now_ms)]

