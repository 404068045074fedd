"""The camera drives the terminal's checkout against the real controller and sandbox provider:
a payment code held to the camera pays the order; a live, consented, enrolled face pays from
stored value; a still photo, a refused code or a face without payment consent pays nothing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from checkout_fixtures import open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision, wait_until
from face_enrol_samples import person
from face_id_samples import FACES, NO_FACES

from broker.mosquitto import ManagedBroker
from broker.storage import members as member_db
from broker.storage import payments as pay_db
from broker.storage import stored_value as sv_db
from broker.storage.loyalty_records import MemberRecord, MembershipRecord, StoredValueEntry
from kiosk.checkout.camera import CameraPay, Notice
from kiosk.checkout.service import TerminalCheckout
from kiosk.checkout.states import FlowConfig, screen_name
from kiosk.face import keystore
from kiosk.face.consent import NOTICE, ConsentRecord, Grant, Purpose
from kiosk.face.encoding import FaceEncoder
from kiosk.face.gallery import Gallery
from kiosk.face.liveness import Challenge
from kiosk.face.templates import TemplateStore
from kiosk.face.types import FaceFound
from kiosk.vision.frames import Frame
from kiosk.vision.payloads import coupon
from kiosk.vision.scanner import CodeScanner
from kiosk.vision.symbols import render_qr

pytestmark = needs_mosquitto
PAID_AFTER_1S = "134567890123456791"  # sandbox: USERPAYING, then SUCCESS after 1 s


def counter_scene(code: np.ndarray | None = None) -> np.ndarray:
    """A 720p BGR view of the counter, with a phone screen showing `code`."""
    frame = np.full((720, 1280), 105, np.uint8)
    if code is not None:
        h, w = code.shape
        frame[180:180 + h, 420:420 + w] = code
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


class Camera:
    """Frames in camera order with camera timestamps (10 fps)."""

    def __init__(self) -> None:
        self.n = 0

    def frame(self, bgr: np.ndarray) -> Frame:
        self.n += 1
        return Frame(bgr, self.n / 10, self.n)


async def shop_till(shop: Any, tmp_path: Path, run_agent: Any, name: str) -> TerminalCheckout:
    agent = agent_for(await provision(shop.c, name), tmp_path / name)
    till = TerminalCheckout(agent, config=FlowConfig(face_pay=True))
    await run_agent(agent)
    return till


async def order_on_screen(shop: Any, till: TerminalCheckout, name: str, fen: int) -> str:
    order = await shop.order(name, amount_fen=fen)
    await wait_until(lambda: screen_name(till.state) == "OrderShown", what="the order")
    await till.start_payment()
    return str(order.order_id)


async def order_state(shop: Any, order_id: str) -> str | None:
    got = await pay_db.get_order(shop.c.db, order_id)
    return None if got is None else str(got.state)


async def test_a_payment_code_shown_to_the_camera_pays_and_junk_codes_are_refused(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        till = await shop_till(shop, tmp_path, run_agent, "till-cam1")
        notices: list[Notice] = []
        cam = CameraPay(till, scanner=CodeScanner(), encoder=lambda f: [],
                        gallery=Gallery(background=False), consents=_no_consent,
                        on_notice=notices.append)
        order_id = await order_on_screen(shop, till, "till-cam1", 1800)
        camera = Camera()
        await cam.feed(camera.frame(counter_scene(render_qr(PAID_AFTER_1S, 6))))
        assert screen_name(till.state) == "ChoosingMethod"  # not scanning yet: frame ignored
        await till.choose_method("code")
        await cam.feed(camera.frame(counter_scene(render_qr("'; DROP TABLE orders; --", 6))))
        await cam.feed(camera.frame(counter_scene(render_qr("https://evil.example/pay", 6))))
        # a coupon is a good code, but not a way to pay: said so, nothing sent
        await cam.feed(camera.frame(counter_scene(render_qr(coupon(np.random.default_rng(3)), 6))))
        assert [n.key for n in notices] == ["code_refused", "code_refused", "not_payment_code"]
        assert screen_name(till.state) == "ScanningCode"
        await cam.feed(camera.frame(counter_scene(render_qr(PAID_AFTER_1S, 6))))
        assert screen_name(till.state) in {"Paying", "Paid", "OfferJoin"}
        await wait_until(lambda: screen_name(till.state) in {"Paid", "OfferJoin"},
                         what="the payment code's payment", timeout=20)
        assert await order_state(shop, order_id) == "paid"
        await till.aclose()


async def _no_consent(member_id: str) -> ConsentRecord | None:
    return None


class AlwaysBlink(random.Random):
    def choice(self, seq: Sequence[Any]) -> Any:
        return Challenge.BLINK


class Blinking:
    """The real encoder; on the frames listed, the eyes are shown shut (the eye landmarks
    squeezed to a slit) — the shared photos have no video of a blink."""

    def __init__(self, real: FaceEncoder, shut: set[int]) -> None:
        self.real, self.shut, self.calls = real, shut, 0

    def __call__(self, frame: np.ndarray) -> Sequence[FaceFound]:
        self.calls += 1
        faces = list(self.real(frame))
        if self.calls in self.shut and faces:
            f = faces[0]
            marks = dict(f.landmarks)
            for eye in ("left_eye", "right_eye"):
                pts = np.array(marks[eye], float)
                mid = pts[:, 1].mean()
                pts[:, 1] = mid + (pts[:, 1] - mid) * 0.2
                marks[eye] = [(int(x), int(y)) for x, y in pts]
            faces[0] = FaceFound(f.box, f.encoding, marks)
        return faces


def jitter(frame: np.ndarray, k: int) -> np.ndarray:
    """Camera frame k of a live shopper standing still: every frame differs a little."""
    moved = np.roll(frame, shift=(k % 5, k % 3), axis=(0, 1))
    return cv2.convertScaleAbs(moved, alpha=1.0, beta=k % 7)


def face_scene(rgb: np.ndarray) -> np.ndarray:
    """The shopper's photo standing in front of the 720p camera (BGR)."""
    h, w = rgb.shape[:2]
    scale = 600 / h
    face = cv2.resize(rgb, (round(w * scale), 600))
    frame = np.full((720, 1280, 3), 90, np.uint8)
    x = (1280 - face.shape[1]) // 2
    frame[60:660, x:x + face.shape[1]] = face[:, : 1280 - x]
    return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)


@pytest.mark.skipif(not (FACES / "enroll").is_dir(), reason=NO_FACES)
async def test_a_live_enrolled_face_pays_and_a_still_photo_does_not(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        db = shop.c.db
        assert db is not None
        alice = MemberRecord.new("Alice", now_ms())
        await member_db.create_member(db, alice)
        await member_db.join_brand(db, MembershipRecord(alice.member_id, "freshmart", now_ms()))
        await sv_db.post_stored_value(db, StoredValueEntry(alice.member_id, 10_000, "topup",
                                                           "topup-cam", now_ms()))
        # Alice enrolled on this terminal with her photos (templates encrypted on disk)
        encoder = FaceEncoder(landmarks=True)
        gallery = Gallery(background=False)
        store = await TemplateStore.open(tmp_path / "face.sqlite",
                                         keystore.load_or_create(tmp_path / "keys"))
        templates = [(f"t{i}", encoder(img)[0].encoding) for i, img in enumerate(person("obama"))]
        consent = ConsentRecord(member_id=alice.member_id,
                                grants=(Grant(Purpose.FACE_PAYMENT, "tick-pay"),),
                                notice_version=NOTICE.version, notice_hash=NOTICE.text_hash,
                                given_at_ms=now_ms(), declared_age=35)
        await store.put_member(alice.member_id, templates, consent, now_ms())
        await store.load_into(gallery, now_ms())

        till = await shop_till(shop, tmp_path, run_agent, "till-cam2")
        notices: list[Notice] = []
        used: list[str] = []

        async def touch(member_id: str) -> None:
            used.append(member_id)

        probe = face_scene(np.asarray(cv2.cvtColor(cv2.imread(str(FACES / "probe" / "obama.jpg")),
                                                   cv2.COLOR_BGR2RGB)))
        camera = Camera()

        # 1. a still photo held up: the same frame again and again fails liveness, twice
        still = CameraPay(till, scanner=CodeScanner(), encoder=encoder, gallery=gallery,
                          consents=store.consent_for, on_notice=notices.append,
                          rng=AlwaysBlink())
        first = await order_on_screen(shop, till, "till-cam2", 1200)
        await till.consent_face(True)
        await till.choose_method("face")
        assert screen_name(till.state) == "FaceMatching"
        for _ in range(12):
            await still.feed(camera.frame(probe))
        keys = [n.key for n in notices]
        assert keys[0] == "liveness_prompt" and "liveness_retry" in keys
        assert keys[-1] == "face_use_other_method"
        assert screen_name(till.state) == "FaceMatching"  # nothing was charged
        assert await sv_db.stored_value_balance(db, alice.member_id) == 10_000
        await till.cancel()
        await wait_until(lambda: screen_name(till.state) in {"Cancelled", "Idle"},
                         what="the cancelled order")
        assert await order_state(shop, first) != "paid"

        # 2. the live shopper blinks when asked: identified, paid from stored value
        notices.clear()
        live = CameraPay(till, scanner=CodeScanner(), encoder=Blinking(encoder, {6, 7}),
                         gallery=gallery, consents=store.consent_for,
                         on_notice=notices.append, on_face_used=touch, rng=AlwaysBlink())
        second = await order_on_screen(shop, till, "till-cam2", 1500)
        await till.consent_face(True)
        await till.choose_method("face")
        for k in range(1, 15):
            if screen_name(till.state) != "FaceMatching":
                break
            await live.feed(camera.frame(jitter(probe, k)))
        assert [n.key for n in notices] == ["liveness_prompt"], notices
        assert used == [alice.member_id]
        await wait_until(lambda: screen_name(till.state) in {"Paid", "OfferJoin", "Done"},
                         what="the face payment")
        assert await order_state(shop, second) == "paid"
        assert await sv_db.stored_value_balance(db, alice.member_id) == 8_500

        # 3. consent withdrawn (face deleted later): a live, matching face no longer pays
        await store.withdraw_consents(alice.member_id, now_ms())
        notices.clear()
        third = await order_on_screen(shop, till, "till-cam2", 900)
        await till.consent_face(True)
        await till.choose_method("face")
        again = CameraPay(till, scanner=CodeScanner(), encoder=Blinking(encoder, {6, 7}),
                          gallery=gallery, consents=store.consent_for,
                          on_notice=notices.append, rng=AlwaysBlink())
        for k in range(1, 15):
            await again.feed(camera.frame(jitter(probe, k)))
        assert notices[-1].detail == "no_face_payment_consent"
        await asyncio.sleep(0.2)
        assert await order_state(shop, third) != "paid"
        assert await sv_db.stored_value_balance(db, alice.member_id) == 8_500
        await till.aclose()
        await store.close()
