"""Frame in, decision out: who (if anyone) is paying in front of the terminal.

frame → encoder (every face) → `pick_payer` (the one large face; several → rejected, the payer
must be unambiguous) → gallery search (the two nearest members) → `decide` (close enough, clear
margin, second factor on large galleries). Synchronous: the caller runs it off the UI thread.
Nothing here keeps the frame or the template after returning.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.face.decision import DEFAULT_POLICY, Decision, DecisionPolicy, decide, pick_payer
from kiosk.face.types import Encoder, FaceFound, Frame, GalleryLike


@dataclass(frozen=True, slots=True)
class Identification:
    """The decision, and the face it was about (None when no face was picked): the UI draws its
    box, liveness follows it."""

    decision: Decision
    face: FaceFound | None


def identify_face(face: FaceFound, gallery: GalleryLike,
                  policy: DecisionPolicy = DEFAULT_POLICY) -> Decision:
    """Decide on one already-encoded face (e.g. the one liveness has been following)."""
    return decide(gallery.search(face.encoding, k=2), len(gallery), policy)


def identify(frame: Frame, encoder: Encoder, gallery: GalleryLike,
             policy: DecisionPolicy = DEFAULT_POLICY) -> Identification:
    """Identify the payer in `frame`."""
    picked = pick_payer(encoder(frame), policy)
    if not isinstance(picked, FaceFound):
        return Identification(picked, None)
    return Identification(identify_face(picked, gallery, policy), picked)
