"""Consent to face use: separate, informed, current, with a guardian under 14 — or refused with
every reason; the notice the screen shows states the rules the code applies."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from kiosk.face.consent import (
    DEFAULT_INACTIVE_DAYS,
    GUARDIAN_AGE,
    MAX_INACTIVE_DAYS,
    NOTICE,
    AgeBand,
    ConsentRecord,
    Grant,
    Guardian,
    Notice,
    Purpose,
    validate,
)

NOW = 1_750_000_000_000


def record(**kw: object) -> ConsentRecord:
    base: dict[str, object] = dict(
        member_id="m-1",
        grants=(Grant(Purpose.FACE_PAYMENT, "tick-pay"), Grant(Purpose.FACE_SIGN_IN, "tick-in")),
        notice_version=NOTICE.version, notice_hash=NOTICE.text_hash, given_at_ms=NOW,
        declared_age=30)
    base.update(kw)
    return ConsentRecord(**base)  # type: ignore[arg-type]


def codes(r: ConsentRecord, notice: Notice = NOTICE) -> set[str]:
    return {p.code for p in validate(r, notice)}


def test_a_separate_informed_adult_consent_is_accepted() -> None:
    r = record()
    assert validate(r) == ()
    assert r.purposes == {Purpose.FACE_PAYMENT, Purpose.FACE_SIGN_IN}
    assert validate(record(grants=(Grant(Purpose.FACE_PAYMENT, "tick-pay"),))) == ()


def test_bundled_or_implicit_consent_is_refused() -> None:
    one_box = (Grant(Purpose.FACE_PAYMENT, "tick"), Grant(Purpose.FACE_SIGN_IN, "tick"))
    assert codes(record(grants=one_box)) == {"bundled"}
    with_terms = (Grant(Purpose.FACE_PAYMENT, "join", bundled_with=("membership_terms",)),)
    assert codes(record(grants=with_terms)) == {"bundled"}
    pre_ticked = (Grant(Purpose.FACE_PAYMENT, "tick-pay", affirmative=False),)
    assert codes(record(grants=pre_ticked)) == {"implicit"}
    assert codes(record(grants=())) == {"no_purpose"}


grants = st.lists(st.builds(Grant, st.sampled_from(Purpose), st.sampled_from(["a", "b", "c"]),
                            st.booleans(),
                            st.lists(st.sampled_from(["terms", "marketing"]), max_size=1)
                            .map(tuple)), min_size=1, max_size=4)


@given(gs=grants)
def test_consent_counts_only_when_every_purpose_is_its_own_active_choice(gs: list[Grant]) -> None:
    problems = codes(record(grants=tuple(gs)))
    separate = (all(g.affirmative and not g.bundled_with for g in gs)
                and len({g.control for g in gs}) == len(gs))
    assert (not problems) == separate
    assert problems <= {"bundled", "implicit"}


@given(age=st.integers(0, 120), guardian=st.none() | st.booleans())
def test_under_14_needs_a_guardian_who_agreed(age: int, guardian: bool | None) -> None:
    g = None if guardian is None else Guardian("parent", guardian, NOW)
    problems = codes(record(declared_age=age, guardian=g))
    needs = age < GUARDIAN_AGE and guardian is not True
    assert ("guardian_missing" in problems) == needs
    assert problems <= {"guardian_missing"}


def test_age_band_is_enough_but_some_age_is_required() -> None:
    assert codes(record(declared_age=None, age_band=AgeBand.ADULT)) == set()
    assert codes(record(declared_age=None, age_band=AgeBand.UNDER_14)) == {"guardian_missing"}
    assert codes(record(declared_age=None)) == {"age_missing"}
    assert codes(record(declared_age=12, age_band=AgeBand.ADULT)) >= {"age_inconsistent"}


def test_a_notice_that_is_not_the_current_one_is_refused() -> None:
    assert codes(record(notice_version="face-2024-01")) == {"notice_outdated"}
    assert codes(record(notice_hash="0" * 64)) == {"notice_mismatch"}
    newer = replace(NOTICE, version="face-2026-01")
    assert codes(record(), newer) == {"notice_outdated"}
    reworded = replace(NOTICE, en=NOTICE.en + " We may also use it for marketing.")
    assert codes(record(), reworded) == {"notice_mismatch"}


@given(days=st.integers(-10, 2000))
def test_retention_is_bounded(days: int) -> None:
    assert ("retention" in codes(record(inactive_days=days))) == (
        not 1 <= days <= MAX_INACTIVE_DAYS)


def test_a_withdrawn_consent_no_longer_counts_but_keeps_its_id() -> None:
    r = record()
    w = r.withdraw(NOW + 1000)
    assert codes(w) == {"withdrawn"}
    assert w.consent_id == r.consent_id and w.withdrawn_at_ms == NOW + 1000
    assert record(given_at_ms=NOW + 1).consent_id != r.consent_id


def test_a_record_claiming_to_keep_more_than_the_notice_says_is_refused() -> None:
    assert codes(record(stores="face photo and template")) == {"scope"}


@given(gs=grants, age=st.none() | st.integers(0, 99), band=st.none() | st.sampled_from(AgeBand),
       guardian=st.none() | st.builds(Guardian, st.text(max_size=5), st.booleans(),
                                      st.integers(0, NOW)),
       withdrawn=st.none() | st.integers(0, NOW))
def test_a_record_survives_storage_unchanged(gs: list[Grant], age: int | None,
                                             band: AgeBand | None, guardian: Guardian | None,
                                             withdrawn: int | None) -> None:
    r = record(grants=tuple(gs), declared_age=age, age_band=band, guardian=guardian,
               withdrawn_at_ms=withdrawn)
    back = ConsentRecord.from_dict(r.to_dict())
    assert back == r and back.withdrawn_at_ms == r.withdrawn_at_ms
    assert validate(back) == validate(r)


def test_the_notice_says_what_the_code_does_in_both_languages() -> None:
    for text in (NOTICE.zh, NOTICE.en):
        assert str(DEFAULT_INACTIVE_DAYS) in text  # retention
        assert str(GUARDIAN_AGE) in text  # guardian rule
        assert "128" in text  # what is stored
    assert "照片" in NOTICE.zh and "photo" in NOTICE.en  # ... and what is not
    assert "删除" in NOTICE.zh and "delete" in NOTICE.en.lower()
    assert "付款码" in NOTICE.zh and "payment code" in NOTICE.en  # other ways to pay
    assert record().inactive_days == DEFAULT_INACTIVE_DAYS <= MAX_INACTIVE_DAYS
