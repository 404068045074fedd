"""Who is paying, if anyone: the pure rules that turn a gallery search into a decision.

DESIGN "Privacy rules for faces": a match needs a clear margin over the runner-up, and large
galleries ask for a second factor. The controller re-checks the same numbers with
`broker.payments.face_policy.FacePolicy` (same names, same defaults), adding the amount rule;
the terminal decides first so that an unknown or ambiguous face never reaches a payment.

Why `max_distance` is 0.45 and not face_recognition's 0.6: on `../shared/data/faces`
(FIELD-NOTES "Faces", re-measured with `kiosk.face.encoding`) the same person sits at 0.24–0.43
(every probe's nearest own template ≤ 0.36), the unknown probe's nearest enrolled face at 0.70.
0.6 was tuned for 1:1 verification on LFW; in 1:N every enrolled member is one more chance of a
false accept, and a false accept here charges the wrong person. 0.45 keeps every measured
genuine pair plus a little room for a worse camera, and stays 0.25 short of the nearest impostor
(the controller's `FacePolicy` uses the same number).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kiosk.face.types import FaceFound, Match

# Without a runner-up (a one-member gallery) the margin is measured against the farthest
# distance the controller's schema accepts (`margin` ≤ 2), so it is as clear as it can be.
NO_RUNNER_UP_DISTANCE = 2.0


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """Thresholds of the terminal's decision; names and defaults follow `FacePolicy`."""

    max_distance: float = 0.45  # accept at or under this Euclidean distance (lower is closer)
    min_margin: float = 0.08  # the runner-up member must be at least this much farther
    large_gallery: int = 1000  # from this many enrolled members, always ask a second factor
    several_faces_ratio: float = 0.5  # a 2nd face this tall (vs the largest) makes it ambiguous


DEFAULT_POLICY = DecisionPolicy()


@dataclass(frozen=True, slots=True)
class Identified:
    """A member recognised clearly enough to offer face payment (maybe with a second factor)."""

    member_id: str
    distance: float
    margin: float
    gallery_size: int
    needs_second_factor: bool

    def checkout_face(self) -> dict[str, str | float | int]:
        """The `face` object of `checkout.pay` (docs/checkout.md)."""
        return {"member_id": self.member_id, "distance": self.distance, "margin": self.margin,
                "gallery_size": self.gallery_size}


@dataclass(frozen=True, slots=True)
class Rejected:
    """No face payment: `reason` is one of the constants below (the UI offers QR / code)."""

    reason: str


NO_FACE = "no_face"
SEVERAL_FACES = "several_faces"
EMPTY_GALLERY = "empty_gallery"
UNKNOWN = "unknown"  # nearest member too far: not enrolled
AMBIGUOUS = "ambiguous"  # two members about as close: cannot tell who pays

Decision = Identified | Rejected


def nearest_members(matches: Sequence[Match]) -> list[Match]:
    """One entry per member (its closest), nearest first; ties broken by member id so that the
    outcome never depends on the order the search happened to return."""
    best: dict[str, float] = {}
    for m in matches:
        if m.member_id not in best or m.distance < best[m.member_id]:
            best[m.member_id] = m.distance
    return [Match(mid, d) for mid, d in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))]


def decide(matches: Sequence[Match], gallery_size: int,
           policy: DecisionPolicy = DEFAULT_POLICY) -> Decision:
    """Accept the nearest member only if it is close enough and clearly closer than anyone else.

    `matches` are the search's nearest members (at least two when the gallery has them: the
    runner-up decides the margin); `gallery_size` is the number of enrolled members.
    """
    ranked = nearest_members(matches)
    if not ranked:
        return Rejected(EMPTY_GALLERY)
    best = ranked[0]
    if best.distance > policy.max_distance:
        return Rejected(UNKNOWN)
    runner_up = ranked[1].distance if len(ranked) > 1 else NO_RUNNER_UP_DISTANCE
    margin = min(max(runner_up - best.distance, 0.0), NO_RUNNER_UP_DISTANCE)
    if margin < policy.min_margin:
        return Rejected(AMBIGUOUS)
    size = max(gallery_size, len(ranked))
    return Identified(member_id=best.member_id, distance=best.distance, margin=margin,
                      gallery_size=size, needs_second_factor=size >= policy.large_gallery)


def pick_payer(faces: Sequence[FaceFound],
               policy: DecisionPolicy = DEFAULT_POLICY) -> FaceFound | Rejected:
    """The one face to identify: the largest, unless another face is nearly as large.

    The payer stands closest to the screen, so their face is the largest. A much smaller face
    (a shopper further back in the queue) is ignored; a second face at least
    `several_faces_ratio` as tall could be the real payer, so nobody is picked.
    """
    if not faces:
        return Rejected(NO_FACE)
    ordered = sorted(faces, key=lambda f: f.height, reverse=True)
    if len(ordered) > 1 and ordered[1].height >= policy.several_faces_ratio * ordered[0].height:
        return Rejected(SEVERAL_FACES)
    return ordered[0]
