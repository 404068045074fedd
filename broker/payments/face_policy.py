"""When a face match may charge without a second factor (pure).

DESIGN "Privacy rules for faces": a match needs a clear margin over the runner-up, and large
galleries ask for a second factor (the last four digits of the phone). Amounts above a limit
ask for it too: a face alone is a weaker proof than a payment code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FacePolicy:
    second_factor_above_fen: int = 200_00  # 200 yuan
    max_distance: float = 0.45  # face_recognition: lower is closer (0.6 is its default cut)
    min_margin: float = 0.08  # best must beat the runner-up by this much
    large_gallery: int = 1000  # from this many enrolled faces, always ask


def face_decision(policy: FacePolicy, *, amount_fen: int, distance: float, margin: float,
                  gallery_size: int) -> str:
    """'reject' (no match), 'second_factor' (ask the last four digits) or 'ok'."""
    if distance > policy.max_distance:
        return "reject"
    if (amount_fen > policy.second_factor_above_fen or margin < policy.min_margin
            or gallery_size >= policy.large_gallery):
        return "second_factor"
    return "ok"
