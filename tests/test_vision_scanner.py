"""Camera frames to codes, end to end: each code once, refusals with reasons, best decoder."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from broker.loyalty import coupon_codes
from kiosk.vision import decoders
from kiosk.vision.codes import Code, Kind, Reason, Refused
from kiosk.vision.compare import compare
from kiosk.vision.degrade import degraded_set
from kiosk.vision.files import ImageFolderSource, VideoFileSource
from kiosk.vision.frames import FrameSource
from kiosk.vision.pump import FramePump
from kiosk.vision.scanner import CodeScanner, Scan, scanning_sink
from kiosk.vision.symbols import render_code128, render_qr

WECHAT = "134567890123456789"


def frame_with(*codes: np.ndarray) -> np.ndarray:
    """A 720p BGR counter scene with each code image placed side by side."""
    frame = np.full((720, 1280), 110, np.uint8)
    x = 80
    for code in codes:
        h, w = code.shape
        frame[100:100 + h, x:x + w] = code
        x += w + 60
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def run(source: FrameSource, scanner: CodeScanner) -> list[Scan]:
    scans: list[Scan] = []
    ended = threading.Event()
    with FramePump(source, scanning_sink(scanner, scans.append, ended.set)) as pump:
        assert ended.wait(30)
    assert pump.error is None
    return scans


def test_a_payment_code_held_to_the_camera_is_reported_once(tmp_path: Path) -> None:
    empty, held = frame_with(), frame_with(render_qr(WECHAT, 4))
    for i, image in enumerate([empty, held, held, held, held, empty]):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), image)
    scans = run(ImageFolderSource(tmp_path, fps=10), CodeScanner())
    assert [s.result for s in scans] == [Code(Kind.WECHAT_PAY, WECHAT)]
    assert scans[0].accepted and scans[0].seen_at == pytest.approx(0.1)


def test_a_payment_barcode_is_read_too(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "0.png"), frame_with(render_code128("281234567890123456", 3)))
    scans = run(ImageFolderSource(tmp_path), CodeScanner())
    assert [s.result for s in scans] == [Code(Kind.ALIPAY, "281234567890123456")]


@pytest.mark.parametrize(("content", "reason"), [
    ("1' OR '1'='1'; DROP TABLE orders;--", Reason.UNEXPECTED_CHARACTERS),
    ("<script>alert(1)</script>", Reason.UNEXPECTED_CHARACTERS),
    ("１３４５６７８９０１２３４５６７８９", Reason.LOOKALIKE_DIGITS),
    ("weixin://wxpay/bizpayurl?pr=AbCdEf1", Reason.URL),
    ("134567890123456789\n", Reason.CONTROL_CHARACTERS),
])
def test_a_hostile_code_is_refused_once_with_its_reason(tmp_path: Path, content: str,
                                                        reason: Reason) -> None:
    path = tmp_path / "shown.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, (1280, 720))
    for _ in range(4):
        writer.write(frame_with(render_qr(content, 5)))
    writer.release()
    scans = run(VideoFileSource(path), CodeScanner())
    assert len(scans) == 1 and not scans[0].accepted
    refusal = scans[0].result
    assert isinstance(refusal, Refused) and refusal.reason is reason and refusal.detail


def test_two_codes_in_one_frame_are_both_reported() -> None:
    coupon = "0123456789ABCDEFG" + coupon_codes.check_char("0123456789ABCDEFG")
    scanner = CodeScanner()
    frame = frame_with(render_qr(WECHAT, 4), render_qr(coupon, 4))
    assert {s.result for s in scanner.scan(frame, 0.0)} == {
        Code(Kind.WECHAT_PAY, WECHAT), Code(Kind.COUPON, coupon)}


class Scripted:
    """A decoder that 'reads' whatever the test puts in front of it."""

    def __init__(self) -> None:
        self.showing: list[str] = []

    def __call__(self, image: np.ndarray) -> list[str]:
        return list(self.showing)


def test_a_code_comes_back_only_after_it_was_out_of_sight_for_the_hold_time() -> None:
    shown = Scripted()
    scanner = CodeScanner(shown, hold_s=3.0)
    blank = np.zeros((2, 2), np.uint8)

    def at(t: float, *texts: str) -> list[str]:
        shown.showing = list(texts)
        return [s.result.value for s in scanner.scan(blank, t)
                if isinstance(s.result, Code)]

    assert at(0.0, WECHAT) == [WECHAT]
    assert all(at(t / 10, WECHAT, WECHAT) == [] for t in range(1, 100))  # held for 10 s
    assert at(11.0) == []
    assert at(12.0, WECHAT) == []  # only 2 s away: the same shopper, still the same code
    assert at(16.0, WECHAT) == [WECHAT]  # 4 s away: shown again, reported again
    scanner.reset()
    assert at(16.1, WECHAT) == [WECHAT]  # a new checkout forgets what was seen


def test_a_flood_of_distinct_codes_does_not_grow_memory() -> None:
    shown = Scripted()
    scanner = CodeScanner(shown, hold_s=3600)
    for i in range(1000):
        shown.showing = [f"{10 + i % 5}{i:016d}"]
        assert len(scanner.scan(np.zeros((2, 2), np.uint8), i / 1000)) == 1
    shown.showing = ["10" + "0" * 16]  # the very first one, long forgotten
    assert len(scanner.scan(np.zeros((2, 2), np.uint8), 1.5)) == 1


def test_the_default_decoder_reads_at_least_as_many_codes_as_any_other() -> None:
    available = decoders.available()
    assert decoders.DEFAULT_DECODER in available
    scores = compare(degraded_set(every=16), available)
    best = scores[decoders.DEFAULT_DECODER]
    assert best.rate > 0
    for name, score in scores.items():
        assert sum(best.hits) >= sum(score.hits), f"{name} read more than the default"


def test_without_zxing_the_terminal_falls_back_to_opencv_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "zxingcpp", None)  # as if the package were missing
    assert "zxing-cpp" in decoders.unavailable()
    assert "zxing-cpp" not in decoders.available()
    with caplog.at_level(logging.WARNING):
        name, decode = decoders.make_default()
    assert name.startswith("opencv") and "instead of" in caplog.text
    scans = CodeScanner(decode).scan(frame_with(render_qr(WECHAT, 4)), 0.0)
    assert [s.result for s in scans] == [Code(Kind.WECHAT_PAY, WECHAT)]
    with pytest.raises(decoders.DecoderUnavailable, match="unknown decoder"):
        decoders.make("no-such-decoder")
