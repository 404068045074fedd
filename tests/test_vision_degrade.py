"""The generated degraded frame set: reproducible, realistic contents, every variant covered."""

from __future__ import annotations

from collections import Counter

import numpy as np

from kiosk.vision.codes import Code, Kind, Reason, Refused, classify
from kiosk.vision.degrade import GEOMETRIES, MODULE_PX, PHOTOMETRICS, draw, plan, subset
from kiosk.vision.payloads import payload_set


def test_the_same_seed_draws_the_same_frames_and_another_seed_other_codes() -> None:
    specs = plan(7)
    one, again = draw(specs[40], 7), draw(specs[40], 7)
    assert one.text == again.text and np.array_equal(one.frame, again.frame)
    assert one.frame.shape == (720, 1280, 3) and one.frame.dtype == np.uint8
    assert {p.text for p in payload_set(7)}.isdisjoint({p.text for p in payload_set(8)})


def test_the_codes_drawn_are_what_the_terminal_will_be_shown() -> None:
    payloads = payload_set(2024)
    for payload in payloads:
        result = classify(payload.text)
        if payload.kind == "merchant_url":
            assert isinstance(result, Refused) and result.reason is Reason.URL
        else:
            assert result == Code(Kind(payload.kind), payload.text)
    assert {p.symbology for p in payloads} == {"qr", "code128"}
    for payload in (p for p in payloads if p.symbology == "code128"):
        result = classify(payload.text)
        assert isinstance(result, Code) and result.is_payment


def test_a_thinned_out_set_still_has_every_variant_size_and_symbology() -> None:
    specs = subset(plan(), 16)
    assert 0 < len(specs) < len(plan()) // 8
    variants = Counter(s.variant for s in specs)
    assert set(variants) == {f"{g}+{p}" for g in GEOMETRIES for p in PHOTOMETRICS}
    assert {s.module_px for s in specs} == set(MODULE_PX)
    assert {s.payload.symbology for s in specs} == {"qr", "code128"}


def test_small_codes_are_drawn_smaller() -> None:
    small = [s for s in plan() if s.photometric == "small"][:3]
    assert all(draw(s).scale < 0.75 for s in small)
