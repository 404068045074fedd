"""Consent to face use, recorded before any face is enrolled (pure: no I/O, no clock).

Why this shape (DESIGN.md "Privacy rules for faces", FIELD-NOTES "Face data rules"): consent to
face processing must be *separate* — its own affirmative act per purpose, not bundled with the
membership terms or with the other face purpose, not pre-ticked — and *informed*: the member saw
a plain-language notice saying what is stored, why, for how long and how to delete it. The
record therefore keeps which notice was shown (version and a hash of its exact text) and, per
purpose, how the consent was given. Under 14 a guardian's consent is required as well.

Retention: templates are kept until the member deletes them, and are deleted automatically after
`DEFAULT_INACTIVE_DAYS` (180) days in which the face was not used. Half a year covers a shopper
who is away for a season; after that the template serves no purpose, and enrolling again takes
half a minute. `MAX_INACTIVE_DAYS` (365) is the most a record may ask for.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

DEFAULT_INACTIVE_DAYS = 180
MAX_INACTIVE_DAYS = 365
GUARDIAN_AGE = 14  # under this age a guardian must consent as well
STORES = "face template: 128 numbers, encrypted, on this terminal; no photo or video"
HOW_TO_DELETE = "terminal: Member > Face > Delete, or ask staff; immediate, confirmed on screen"


class Purpose(StrEnum):
    FACE_PAYMENT = "face_payment"
    FACE_SIGN_IN = "face_sign_in"


class AgeBand(StrEnum):
    UNDER_14 = "under_14"
    AGE_14_17 = "14_17"
    ADULT = "18_plus"


@dataclass(frozen=True, slots=True)
class Notice:
    """The plain-language notice the terminal shows before asking; `text_hash` pins its words."""

    version: str
    zh: str
    en: str

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(f"{self.version}\n{self.zh}\n{self.en}".encode()).hexdigest()


NOTICE = Notice(
    version="face-2025-06",
    zh=(
        "刷脸付款 / 刷脸登录（自愿，可随时删除）\n"
        "保存什么：由您的面部计算出的 128 个数字（人脸特征），加密保存在这台终端上。"
        "不保存照片或视频，不通过网络传出。\n"
        "用途：只用于您勾选的用途——刷脸付款、刷脸登录，每一项单独同意。\n"
        "保存多久：直到您删除；连续 180 天未使用会自动删除。\n"
        "如何删除：在终端上点「会员 > 刷脸 > 删除」，或请店员帮忙。立即删除，屏幕上会确认。\n"
        "不同意也没关系：扫码付款和付款码始终可用。\n"
        "未满 14 周岁需监护人同意。"
    ),
    en=(
        "Pay or sign in with your face (optional; delete it any time)\n"
        "What we keep: 128 numbers computed from your face (a face template), encrypted, on this "
        "terminal only. No photo or video is kept, and nothing is sent over the internet.\n"
        "Why: only for what you tick below (face payment, face sign-in), each separately.\n"
        "How long: until you delete it; deleted automatically after 180 days without use.\n"
        "How to delete: on the terminal, Member > Face > Delete, or ask staff. It is deleted at "
        "once and confirmed on screen.\n"
        "Saying no is fine: QR codes and payment codes always work.\n"
        "Under 14: a parent or guardian must agree as well."
    ),
)


@dataclass(frozen=True, slots=True)
class Grant:
    """One purpose agreed to. `control` is the UI control the member acted on; `affirmative` is
    false for a pre-ticked box or a default; `bundled_with` names anything else that the same
    action accepted (e.g. "membership_terms") — all of which make the consent not separate."""

    purpose: Purpose
    control: str
    affirmative: bool = True
    bundled_with: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Guardian:
    relation: str  # "parent", "guardian", ...
    affirmative: bool
    given_at_ms: int


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a consent record is refused: a stable `code` for logic, `detail` for people."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    member_id: str
    grants: tuple[Grant, ...]
    notice_version: str
    notice_hash: str
    given_at_ms: int
    declared_age: int | None = None
    age_band: AgeBand | None = None
    guardian: Guardian | None = None
    inactive_days: int = DEFAULT_INACTIVE_DAYS
    stores: str = STORES
    how_to_delete: str = HOW_TO_DELETE
    withdrawn_at_ms: int | None = field(default=None, compare=False)

    @property
    def consent_id(self) -> str:
        """Stable id derived from what was agreed (not from withdrawal), for template rows."""
        body = f"{self.member_id}|{self.notice_hash}|{self.given_at_ms}|{self.grants!r}"
        return "c-" + hashlib.sha256(body.encode()).hexdigest()[:20]

    @property
    def purposes(self) -> frozenset[Purpose]:
        return frozenset(g.purpose for g in self.grants)

    @property
    def under_guardian_age(self) -> bool:
        if self.declared_age is not None:
            return self.declared_age < GUARDIAN_AGE
        return self.age_band is AgeBand.UNDER_14

    def withdraw(self, at_ms: int) -> ConsentRecord:
        return replace(self, withdrawn_at_ms=at_ms)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ConsentRecord:
        doc = dict(doc)
        doc["grants"] = tuple(
            Grant(Purpose(g["purpose"]), g["control"], g["affirmative"], tuple(g["bundled_with"]))
            for g in doc["grants"])
        doc["age_band"] = AgeBand(doc["age_band"]) if doc.get("age_band") else None
        doc["guardian"] = Guardian(**doc["guardian"]) if doc.get("guardian") else None
        return cls(**doc)


def _age_problems(r: ConsentRecord) -> list[Problem]:
    if r.declared_age is None and r.age_band is None:
        return [Problem("age_missing", "no declared age or age band: guardian rule cannot apply")]
    out: list[Problem] = []
    if r.declared_age is not None and r.age_band is not None:
        band = (AgeBand.UNDER_14 if r.declared_age < GUARDIAN_AGE
                else AgeBand.AGE_14_17 if r.declared_age < 18 else AgeBand.ADULT)
        if band is not r.age_band:
            out.append(Problem("age_inconsistent", f"age {r.declared_age} is not {r.age_band}"))
    if r.under_guardian_age and (r.guardian is None or not r.guardian.affirmative):
        out.append(Problem("guardian_missing", f"under {GUARDIAN_AGE}: a guardian must agree"))
    return out


def validate(r: ConsentRecord, notice: Notice = NOTICE) -> tuple[Problem, ...]:
    """Every reason the record cannot authorise enrolment now (empty: it can)."""
    out: list[Problem] = []
    if not r.member_id:
        out.append(Problem("member_missing", "no member id"))
    if not r.grants:
        out.append(Problem("no_purpose", "no purpose was agreed to"))
    seen: dict[str, Purpose] = {}
    for g in r.grants:
        if not g.affirmative:
            out.append(Problem("implicit", f"{g.purpose}: not an active choice (pre-ticked?)"))
        if g.bundled_with:
            out.append(Problem("bundled", f"{g.purpose}: agreed together with "
                                          f"{', '.join(g.bundled_with)}"))
        if g.control in seen:
            other = seen[g.control]
            detail = (f"{other} given twice" if other is g.purpose
                      else f"{other} and {g.purpose} share control {g.control!r}")
            out.append(Problem("bundled", detail))
        seen[g.control] = g.purpose
    if r.notice_version != notice.version:
        out.append(Problem("notice_outdated",
                           f"notice {r.notice_version!r} shown; current is {notice.version!r}"))
    elif r.notice_hash != notice.text_hash:
        out.append(Problem("notice_mismatch", "the notice text shown differs from the current"))
    if not 1 <= r.inactive_days <= MAX_INACTIVE_DAYS:
        out.append(Problem("retention", f"{r.inactive_days} days: allowed 1..{MAX_INACTIVE_DAYS}"))
    if r.stores != STORES or r.how_to_delete != HOW_TO_DELETE:
        out.append(Problem("scope", "what is stored / how to delete differs from the notice"))
    if r.withdrawn_at_ms is not None:
        out.append(Problem("withdrawn", "consent was withdrawn"))
    out.extend(_age_problems(r))
    return tuple(out)
