"""Liveness: before a face may pay, the person in front of the camera does a random short act.

The terminal picks a challenge at random (blink, or turn the head left or right), shows its
prompt, and feeds the check one `Sample` per camera frame. The check passes when it sees the
asked-for change and its return within `timeout_s`:
- blink: the eye aspect ratio (EAR, Soukupová & Čech 2016: eye height over eye width from the
  six eye landmarks) falls below `closed_ratio` of the open-eye baseline (the median of the
  `baseline_frames` widest-open frames before), then comes back above `open_ratio` of it.
  Relative, because open-eye EAR differs a lot between people (0.15–0.40 on the shared photos).
- turn: yaw (`quality.pose_of`) moves `turn_deg` away from its starting value in the asked
  direction, then comes back within `back_deg`. "Left" is the member's own left; with an
  unmirrored camera that moves the nose towards the image's right (positive yaw).

It fails, with a reason, on: a still picture (EAR and yaw never change: `STILL` at the timeout),
a replay (an identical frame seen twice, or the landmarks identical to the pixel for more than
`max_identical_run` frames in a row — a live face jitters), another face taking over (encoding
distance from the first frame above `identity_jump`), no face for `max_no_face_s`, or time out.
What it does not stop: a video of the member doing the same act (the random choice of act makes
that harder), a mask or a screen held by a person. A trained anti-spoofing model is the next step.

The state machine is pure, with the clock injected; `landmarks_of` is the camera adapter.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from kiosk.face.quality import pose_of
from kiosk.face.types import Frame, Point, Vector

Landmarks = Mapping[str, Sequence[Point]]


class Challenge(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


PROMPTS: dict[Challenge, tuple[str, str]] = {  # (zh, en)
    Challenge.BLINK: ("请眨一下眼", "Please blink"),
    Challenge.TURN_LEFT: ("请向左转头，再转回来", "Turn your head to your left, then back"),
    Challenge.TURN_RIGHT: ("请向右转头，再转回来", "Turn your head to your right, then back"),
}


class Failure(StrEnum):
    TIMEOUT = "timeout"
    STILL = "still"
    REPLAY = "replay"
    IDENTITY_CHANGED = "identity_changed"
    NO_FACE = "no_face"


@dataclass(frozen=True, slots=True)
class Result:
    passed: bool | None  # None: still watching
    failure: Failure | None = None
    detail: str = ""


PENDING = Result(None)


@dataclass(frozen=True, slots=True)
class LivenessLimits:
    timeout_s: float = 6.0
    max_no_face_s: float = 1.5
    baseline_frames: int = 3
    closed_ratio: float = 0.65
    open_ratio: float = 0.85
    turn_deg: float = 15.0
    back_deg: float = 8.0
    max_identical_run: int = 4
    identity_jump: float = 0.5  # same person frame to frame stays far below (0.6 = a stranger)
    still_ear_span: float = 0.03  # below both spans over the whole challenge: a still picture
    still_yaw_span: float = 2.0
    camera_mirrored: bool = False


def eye_aspect_ratio(eye: Sequence[Point]) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) over the six points of one eye (dlib order)."""
    p = np.asarray(eye, dtype=np.float64)
    width = float(np.linalg.norm(p[0] - p[3]))
    if width < 1e-6:
        return 0.0
    return float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * width)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one frame showed: measurements of the (largest) face, or no face (`key` None)."""

    ear: float | None = None
    yaw_deg: float | None = None
    key: tuple[Point, ...] | None = None  # every landmark, to spot frozen landmarks
    frame_hash: str | None = None
    encoding: Vector | None = None

    @classmethod
    def of(cls, landmarks: Landmarks | None, frame_hash: str | None = None,
           encoding: Vector | None = None) -> Sample:
        if not landmarks:
            return cls(frame_hash=frame_hash)
        eyes = [landmarks.get(e, ()) for e in ("left_eye", "right_eye")]
        ear = (sum(map(eye_aspect_ratio, eyes)) / 2) if all(len(e) == 6 for e in eyes) else None
        pose = pose_of(landmarks)
        key = tuple((int(x), int(y)) for name in sorted(landmarks) for x, y in landmarks[name])
        return cls(ear, pose.yaw_deg if pose else None, key, frame_hash, encoding)


def pick_challenge(rng: random.Random) -> Challenge:
    """Random, so a recording of one act does not answer the next (use `random.SystemRandom`)."""
    return rng.choice(list(Challenge))


class LivenessCheck:
    """One challenge over a frame sequence; `feed` each frame's sample, `poll` between frames."""

    def __init__(self, challenge: Challenge, clock: Callable[[], float],
                 limits: LivenessLimits = LivenessLimits()) -> None:
        self.challenge, self._clock, self.limits = challenge, clock, limits
        self._start = self._last_face = clock()
        self._result = PENDING
        self._hashes: set[str] = set()
        self._prev_key: tuple[Point, ...] | None = None
        self._run = 0
        self._first_encoding: Vector | None = None
        self._ears: list[float] = []
        self._yaws: list[float] = []
        self._moved = False  # past the closed / turned threshold
        self._base = 0.0  # the open-eye EAR a blink is measured against

    @property
    def result(self) -> Result:
        return self._result

    def _fail(self, failure: Failure, detail: str) -> Result:
        self._result = Result(False, failure, detail)
        return self._result

    def poll(self) -> Result:
        """Apply the timers without a new frame."""
        if self._result.passed is not None:
            return self._result
        now = self._clock()
        if now - self._last_face > self.limits.max_no_face_s:
            return self._fail(Failure.NO_FACE, f"no face for {now - self._last_face:.1f} s")
        if now - self._start > self.limits.timeout_s:
            if self._looks_still():
                return self._fail(Failure.STILL, "nothing moved: a photo?")
            return self._fail(Failure.TIMEOUT, f"no {self.challenge} within the time")
        return self._result

    def _looks_still(self) -> bool:
        lim = self.limits
        ear_span = max(self._ears) - min(self._ears) if self._ears else 0.0
        yaw_span = max(self._yaws) - min(self._yaws) if self._yaws else 0.0
        return ear_span < lim.still_ear_span and yaw_span < lim.still_yaw_span

    def feed(self, sample: Sample) -> Result:
        if self.poll().passed is not None:
            return self._result
        if sample.frame_hash is not None:
            if sample.frame_hash in self._hashes:
                return self._fail(Failure.REPLAY, "the same frame came twice")
            self._hashes.add(sample.frame_hash)
        if sample.key is None:
            return self._result
        self._last_face = self._clock()
        self._run = self._run + 1 if sample.key == self._prev_key else 0
        self._prev_key = sample.key
        if self._run > self.limits.max_identical_run:
            return self._fail(Failure.REPLAY, f"landmarks frozen for {self._run + 1} frames")
        if sample.encoding is not None:
            if self._first_encoding is None:
                self._first_encoding = sample.encoding
            jump = float(np.linalg.norm(sample.encoding - self._first_encoding))
            if jump > self.limits.identity_jump:
                return self._fail(Failure.IDENTITY_CHANGED, f"face changed ({jump:.2f})")
        if sample.ear is not None:
            self._ears.append(sample.ear)
        if sample.yaw_deg is not None:
            self._yaws.append(sample.yaw_deg)
        if self._answered(sample):
            self._result = Result(True)
        return self._result

    def _answered(self, s: Sample) -> bool:
        """Advance the challenge on one face sample; True when it is answered."""
        lim = self.limits
        blink = self.challenge is Challenge.BLINK
        value, history = (s.ear, self._ears) if blink else (s.yaw_deg, self._yaws)
        if value is None or len(history) <= lim.baseline_frames:
            return False
        if blink:
            if not self._moved:  # open-eye level: the k widest-open frames so far, so a
                # challenge that starts mid-blink or with drowsy eyes still gets a fair baseline
                self._base = statistics.median(sorted(history[:-1])[-lim.baseline_frames:])
                self._moved = value < lim.closed_ratio * self._base
                return False
            return value >= lim.open_ratio * self._base
        base = statistics.median(history[: lim.baseline_frames])  # where the head started
        sign = 1.0 if self.challenge is Challenge.TURN_LEFT else -1.0
        if lim.camera_mirrored:
            sign = -sign
        if not self._moved:
            self._moved = sign * (value - base) >= lim.turn_deg
            return False
        return abs(value - base) <= lim.back_deg


def frame_hash(frame: Frame) -> str:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).hexdigest()


def landmarks_of(frame: Frame, scale: float = 0.5) -> dict[str, list[Point]] | None:
    """The largest face's landmarks, found on a frame downscaled by `scale` (detection is the
    slow part: 0.47 s on 720p at 2 cores) and mapped back to full-frame pixels; None if none."""
    from kiosk.face.dlib_api import face_recognition  # dlib: only where a camera is used

    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = face_recognition.face_landmarks(np.ascontiguousarray(small))
    if not found:
        return None

    def width(lm: dict[str, list[Point]]) -> int:
        xs = [x for x, _ in lm.get("chin", [(0, 0)])]
        return max(xs) - min(xs)

    best = max(found, key=width)
    return {name: [(round(x / scale), round(y / scale)) for x, y in pts]
            for name, pts in best.items()}


def sample_of(frame: Frame, encoding: Vector | None = None, scale: float = 0.5) -> Sample:
    """The camera adapter: one frame in, one `Sample` out."""
    return Sample.of(landmarks_of(frame, scale), frame_hash(frame), encoding)
