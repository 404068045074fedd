"""Liveness: a real blink or head turn passes; a still photo, replayed frames, a face swap, an
empty camera and a slow answer fail, each with its reason."""

from __future__ import annotations

import random

import numpy as np
from face_enrol_samples import image
from face_id_samples import needs_faces
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.face.liveness import (
    PROMPTS,
    Challenge,
    Failure,
    LivenessCheck,
    LivenessLimits,
    Sample,
    eye_aspect_ratio,
    frame_hash,
    landmarks_of,
    pick_challenge,
    sample_of,
)

FPS = 15
LIMITS = LivenessLimits()
OBAMA = "enroll/obama/obama.jpg"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(challenge: Challenge, samples: list[Sample], fps: float = FPS) -> LivenessCheck:
    """Feed one sample per camera frame; then, until the check decides, more frames like the
    last one (the person stays in front of the camera, doing nothing more), or no face."""
    clock = Clock()
    check = LivenessCheck(challenge, clock)
    for s in samples:
        clock.t += 1 / fps
        check.feed(s)
    last = samples[-1] if samples else Sample()
    i = 0
    while check.result.passed is None:
        assert clock.t < 1000 + 2 * LIMITS.timeout_s, "the check never decided"
        clock.t += 1 / fps
        i += 1
        pad = Sample(last.ear, last.yaw_deg, ((-i, 0),) if last.key else None, f"pad-{i}")
        check.feed(pad)
    return check


def live(i: int, ear: float = 0.3, yaw: float = 0.0) -> Sample:
    """A frame of a live face: measurements given, landmarks and pixels differ frame to frame."""
    return Sample(ear=ear, yaw_deg=yaw, key=((i, i % 3),), frame_hash=f"frame-{i}")


# --- the pure state machine ------------------------------------------------------------------

open_ear = st.floats(0.15, 0.45)
jitter = st.lists(st.floats(-0.01, 0.01), min_size=60, max_size=60)


@given(base=open_ear, noise=jitter, start=st.integers(3, 40), closed=st.integers(1, 6),
       depth=st.floats(0.0, 0.55))
def test_a_blink_passes(base: float, noise: list[float], start: int, closed: int,
                        depth: float) -> None:
    ears = [base + n for n in noise][: start + closed + 3]
    for i in range(start, start + closed):
        ears[i] = base * depth  # eyes shut: EAR well under the open-eye baseline
    check = run(Challenge.BLINK, [live(i, e) for i, e in enumerate(ears)])
    assert check.result.passed is True


@given(base=open_ear, closed=st.integers(1, 4), drowsy=st.integers(3, 10))
def test_a_blink_passes_even_when_the_challenge_starts_with_eyes_shut(
        base: float, closed: int, drowsy: int) -> None:
    ears = [base * 0.3] * closed + [base] * drowsy + [base * 0.4] * 2 + [base] * 2
    assert run(Challenge.BLINK, [live(i, e) for i, e in enumerate(ears)]).result.passed is True


@given(ear=st.floats(0.0, 0.6), yaw=st.floats(-40, 40), frames=st.integers(0, 120),
       challenge=st.sampled_from(Challenge))
def test_a_still_picture_never_passes(ear: float, yaw: float, frames: int,
                                      challenge: Challenge) -> None:
    result = run(challenge, [live(i, ear, yaw) for i in range(frames)]).result
    assert result.passed is False
    assert result.failure is (Failure.STILL if frames else Failure.NO_FACE)


@given(sign=st.sampled_from([1, -1]), peak=st.floats(LIMITS.turn_deg + 0.5, 45),
       start=st.integers(3, 30), hold=st.integers(1, 10))
def test_a_head_turn_passes_only_in_the_asked_direction(sign: int, peak: float, start: int,
                                                        hold: int) -> None:
    yaws = [0.0] * start + [sign * peak] * hold + [0.0] * 3
    samples = [live(i, yaw=y) for i, y in enumerate(yaws)]
    asked, other = ((Challenge.TURN_LEFT, Challenge.TURN_RIGHT) if sign > 0
                    else (Challenge.TURN_RIGHT, Challenge.TURN_LEFT))
    assert run(asked, samples).result.passed is True
    wrong = run(other, samples).result
    assert wrong.passed is False and wrong.failure is Failure.TIMEOUT
    assert run(Challenge.BLINK, samples).result.failure is Failure.TIMEOUT  # wrong act


@given(repeat_at=st.integers(1, 20))
def test_a_frame_seen_twice_is_a_replay(repeat_at: int) -> None:
    samples = [live(i) for i in range(25)]
    samples[repeat_at] = Sample(0.3, 0.0, ((99, 99),), samples[0].frame_hash)
    result = run(Challenge.BLINK, samples).result
    assert result.failure is Failure.REPLAY


@given(run_length=st.integers(1, 12))
def test_landmarks_frozen_to_the_pixel_are_a_replay(run_length: int) -> None:
    frozen = [Sample(0.3, 0.0, ((5, 5),), f"f{i}") for i in range(run_length)]
    result = run(Challenge.BLINK, [live(100 + i) for i in range(3)] + frozen).result
    if run_length > LIMITS.max_identical_run + 1:
        assert result.failure is Failure.REPLAY
    else:
        assert result.failure is not Failure.REPLAY


def test_another_face_taking_over_fails() -> None:
    rng = np.random.default_rng(1)
    me = rng.normal(0, 0.08, 128).astype(np.float32)
    other = rng.normal(0, 0.08, 128).astype(np.float32)
    mine = [Sample(0.3, 0.0, ((i, 0),), f"a{i}", me + 0.01 * i / 10) for i in range(5)]
    result = run(Challenge.BLINK, [*mine, Sample(0.05, 0.0, ((9, 9),), "b", other)]).result
    assert result.failure is Failure.IDENTITY_CHANGED


@given(gap_frames=st.integers(0, 60))
def test_no_face_for_too_long_fails(gap_frames: int) -> None:
    samples = [live(i) for i in range(4)] + [Sample(frame_hash=f"e{i}") for i in range(gap_frames)]
    samples += [live(200 + i, ear=0.05 if i == 0 else 0.3) for i in range(3)]
    result = run(Challenge.BLINK, samples).result
    no_face_s = (gap_frames + 1) / FPS
    assert (result.failure is Failure.NO_FACE) == (no_face_s > LIMITS.max_no_face_s)


def test_an_answer_after_the_timeout_does_not_count() -> None:
    late = int(LIMITS.timeout_s * FPS) + 5
    ears = [0.3 + 0.05 * (i % 2) for i in range(late)] + [0.05, 0.3]
    result = run(Challenge.BLINK, [live(i, e) for i, e in enumerate(ears)]).result
    assert result.passed is False and result.failure is Failure.TIMEOUT


def test_the_outcome_is_final() -> None:
    ears = [0.3, 0.31, 0.3, 0.29, 0.05, 0.3]
    check = run(Challenge.BLINK, [live(i, e) for i, e in enumerate(ears)])
    assert check.result.passed is True
    assert check.feed(live(0)).passed is True  # a later replayed frame changes nothing


def test_challenges_are_random_and_have_prompts() -> None:
    rng = random.Random(7)
    seen = {pick_challenge(rng) for _ in range(60)}
    assert seen == set(Challenge)
    assert all(PROMPTS[c][0] and PROMPTS[c][1] for c in Challenge)


# --- real landmarks --------------------------------------------------------------------------

def _real() -> dict:
    marks = landmarks_of(image(OBAMA))  # the adapter: detected on a half-size copy
    assert marks is not None
    return marks


def _squeezed(marks: dict, factor: float) -> dict:
    out = dict(marks)
    for eye in ("left_eye", "right_eye"):
        pts = np.array(marks[eye], float)
        cy = pts[:, 1].mean()
        out[eye] = [(int(x), round(cy + (y - cy) * factor)) for x, y in pts]
    return out


def _jittered(marks: dict, rng: random.Random) -> dict:
    """What the next camera frame of a live face gives: every point moves by up to a pixel."""
    return {k: [(x + rng.randint(-1, 1), y + rng.randint(-1, 1)) for x, y in v]
            for k, v in marks.items()}


@needs_faces
def test_a_still_photo_held_for_30_frames_fails() -> None:
    frame = image(OBAMA)
    photo = sample_of(frame)  # identical frames give identical samples
    assert photo.key is not None and photo.frame_hash == frame_hash(frame)
    for challenge in Challenge:
        assert run(challenge, [photo] * 30).result.failure is Failure.REPLAY
    # The same photo in front of a real camera: pixels and landmarks jitter, nothing moves.
    rng = random.Random(3)
    marks = _real()
    held = [Sample.of(_jittered(marks, rng), f"cam-{i}") for i in range(30)]
    for challenge in Challenge:
        result = run(challenge, held).result
        assert result.passed is False and result.failure in (Failure.STILL, Failure.TIMEOUT)


@needs_faces
@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**16), open_frames=st.integers(3, 30), shut=st.integers(1, 4))
def test_a_blink_made_from_a_real_face_passes(seed: int, open_frames: int, shut: int) -> None:
    rng = random.Random(seed)
    marks = _real()
    assert eye_aspect_ratio(_squeezed(marks, 0.2)["left_eye"]) < eye_aspect_ratio(
        marks["left_eye"])
    seq = ([_jittered(marks, rng) for _ in range(open_frames)]
           + [_jittered(_squeezed(marks, 0.2), rng) for _ in range(shut)]
           + [_jittered(marks, rng) for _ in range(6)])
    samples = [Sample.of(m, f"cam-{i}") for i, m in enumerate(seq)]
    assert run(Challenge.BLINK, samples).result.passed is True
    assert run(Challenge.TURN_LEFT, samples).result.passed is False
