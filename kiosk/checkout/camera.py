"""The camera feeding the checkout: payment codes while it scans, a live face while it matches.

`CameraPay` gets every camera frame (from a `kiosk.vision.pump.FramePump` through an asyncio
queue) and looks at the checkout's state:

- `ScanningCode`: the frame goes to the `CodeScanner`; the first well-formed *payment* code is
  handed to `TerminalCheckout.scan_code`. A platform receipt or coupon QR shown at this step,
  or a refused text (hostile, malformed), gives a notice instead: nothing is sent.
- `FaceMatching`: a random liveness challenge is shown (`kiosk.face.liveness`) and every frame's
  largest face (landmarks + encoding from one encoder pass) is fed to it. Only when the
  challenge passes is that same live face identified against the gallery; a clear match of a
  member whose consent covers face payment goes to `TerminalCheckout.face_matched` with the
  gallery size (the controller asks for the phone's last digits on large galleries). A failed
  challenge may be retried once; then the shopper is pointed at QR / payment code.
- any other state: frames are dropped and the per-step state is reset.

Detection and encoding are blocking dlib/OpenCV calls: they run in a worker thread, never on
the event loop (and never on the UI thread).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kiosk.checkout.service import TerminalCheckout
from kiosk.checkout.states import FaceMatching, ScanningCode
from kiosk.face.consent import ConsentRecord, Purpose, validate
from kiosk.face.decision import DEFAULT_POLICY, DecisionPolicy, Identified, pick_payer
from kiosk.face.identify import identify_face
from kiosk.face.liveness import (
    PROMPTS,
    LivenessCheck,
    LivenessLimits,
    Result,
    Sample,
    frame_hash,
    pick_challenge,
)
from kiosk.face.types import Encoder, FaceFound, GalleryLike
from kiosk.vision.codes import Refused
from kiosk.vision.frames import Frame
from kiosk.vision.scanner import CodeScanner

log = logging.getLogger(__name__)

ConsentLookup = Callable[[str], Awaitable[ConsentRecord | None]]
Notify = Callable[["Notice"], None]
MAX_CHALLENGES = 2  # per face step: one retry, then QR / payment code


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the screen should say: `key` for the view, `detail` for logs and tests."""

    key: str
    zh: str
    en: str
    detail: str = ""


NOT_PAYMENT = Notice("not_payment_code", "这不是付款码，请出示付款码", "That is not a payment code")
FACE_RETRY = Notice("liveness_retry", "没有看清，请再试一次", "We could not tell, let's try again")
FACE_OTHER_WAY = Notice("face_use_other_method", "请改用扫码或付款码支付",
                        "Please pay by QR code or payment code instead")


def _refused(reason: str) -> Notice:
    return Notice("code_refused", "无法识别此码", "This code cannot be used", reason)


class CameraPay:
    def __init__(self, checkout: TerminalCheckout, *, scanner: CodeScanner, encoder: Encoder,
                 gallery: GalleryLike, consents: ConsentLookup,
                 on_notice: Notify = lambda n: None,
                 on_face_used: Callable[[str], Awaitable[None]] | None = None,
                 policy: DecisionPolicy = DEFAULT_POLICY,
                 limits: LivenessLimits | None = None,
                 rng: random.Random | None = None) -> None:
        self.checkout = checkout
        self.scanner = scanner
        self.encoder = encoder
        self.gallery = gallery
        self.consents = consents
        self.on_notice = on_notice
        self.on_face_used = on_face_used
        self.policy = policy
        self.limits = limits or LivenessLimits()
        self.rng = rng or random.SystemRandom()
        self._now = 0.0  # the current frame's timestamp: liveness runs on the camera's clock
        self._check: LivenessCheck | None = None
        self._challenges = 0
        self._face_done = False
        self._scanning = False

    async def run(self, frames: asyncio.Queue[Frame | None]) -> None:
        """Consume frames until a None arrives (the camera stopped) or the task is cancelled."""
        while (frame := await frames.get()) is not None:
            try:
                await self.feed(frame)
            except Exception:  # one bad frame must not stop the camera for the whole day
                log.exception("camera frame not handled")

    async def feed(self, frame: Frame) -> None:
        state = self.checkout.state
        if isinstance(state, ScanningCode):
            await self._scan(frame)
            return
        if self._scanning:
            self.scanner.reset()
            self._scanning = False
        if isinstance(state, FaceMatching):
            await self._match(frame)
        else:
            self._check, self._challenges, self._face_done = None, 0, False

    async def _scan(self, frame: Frame) -> None:
        self._scanning = True
        for scan in await asyncio.to_thread(self.scanner.feed, frame):
            result = scan.result
            if isinstance(result, Refused):
                self.on_notice(_refused(str(result.reason)))
            elif result.is_payment:
                await self.checkout.scan_code(result.value)
                return
            else:
                self.on_notice(NOT_PAYMENT)

    def _new_challenge(self) -> LivenessCheck:
        challenge = pick_challenge(self.rng)
        self._challenges += 1
        zh, en = PROMPTS[challenge]
        self.on_notice(Notice("liveness_prompt", zh, en, str(challenge)))
        return LivenessCheck(challenge, lambda: self._now, self.limits)

    async def _match(self, frame: Frame) -> None:
        if self._face_done:
            return
        self._now = frame.timestamp
        if self._check is None:
            self._check = self._new_challenge()
        rgb = frame.rgb()
        faces = await asyncio.to_thread(self.encoder, rgb)
        payer = pick_payer(faces, self.policy)
        live = payer if isinstance(payer, FaceFound) else None
        seen = frame_hash(rgb)
        sample = (Sample.of(live.landmarks, seen, live.encoding) if live
                  else Sample(frame_hash=seen))
        result = self._check.feed(sample)
        if result.passed is None:
            return
        if not result.passed or live is None:
            self._failed(result)
            return
        self._face_done = True
        await self._identified(live)

    def _failed(self, result: Result) -> None:
        detail = str(result.failure or "")
        if self._challenges < MAX_CHALLENGES:
            self.on_notice(Notice(FACE_RETRY.key, FACE_RETRY.zh, FACE_RETRY.en, detail))
            self._check = self._new_challenge()
            return
        self._face_done = True
        self.on_notice(Notice(FACE_OTHER_WAY.key, FACE_OTHER_WAY.zh, FACE_OTHER_WAY.en, detail))

    async def _identified(self, face: FaceFound) -> None:
        decision = await asyncio.to_thread(identify_face, face, self.gallery, self.policy)
        if not isinstance(decision, Identified):
            self.on_notice(Notice(FACE_OTHER_WAY.key, FACE_OTHER_WAY.zh, FACE_OTHER_WAY.en,
                                  str(getattr(decision, "reason", ""))))
            return
        consent = await self.consents(decision.member_id)
        if (consent is None or consent.withdrawn_at_ms is not None or validate(consent)
                or Purpose.FACE_PAYMENT not in consent.purposes):
            # Enrolled for sign-in only, withdrawn, or an outdated notice: never charge.
            self.on_notice(Notice(FACE_OTHER_WAY.key, FACE_OTHER_WAY.zh, FACE_OTHER_WAY.en,
                                  "no_face_payment_consent"))
            return
        if self.on_face_used is not None:
            await self.on_face_used(decision.member_id)
        await self.checkout.face_matched(decision.member_id, decision.distance, decision.margin,
                                         decision.gallery_size)
