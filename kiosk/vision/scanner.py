"""From camera frames to payment codes and platform tokens, each reported once.

`CodeScanner.scan(image, now)` decodes one frame with the chosen decoder
(`decoders.make_default()` unless told otherwise), classifies every text it read
(`codes.classify`) and returns a `Scan` for each code it has not reported recently: a
validated `Code`, or a `Refused` with its reason, so the screen can say "that is not a payment
code" instead of staying silent.

A shopper holds the phone still for a second or two, so the same code is in many frames in a
row. A code is reported when it appears, then not again while it stays in view; once it has
been out of sight for `hold_s` seconds, showing it again reports it again. Time comes from the
caller (`now`: `Frame.timestamp`), which keeps this free of clocks and threads: the pump calls
it on its deliverer thread (`scanning_sink`), tests call it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.vision import decoders
from kiosk.vision.codes import Code, Refused, classify
from kiosk.vision.decoders import Decoder, Image
from kiosk.vision.frames import Frame
from kiosk.vision.pump import FrameSink

DEFAULT_HOLD_S = 3.0
MAX_REMEMBERED = 64  # distinct codes kept for the hold window; a flood cannot grow memory


@dataclass(frozen=True, slots=True)
class Scan:
    """One newly seen code: what it is (or why it is refused) and when it was seen."""

    result: Code | Refused
    seen_at: float

    @property
    def accepted(self) -> bool:
        return isinstance(self.result, Code)


class CodeScanner:
    def __init__(self, decoder: Decoder | None = None, *,
                 hold_s: float = DEFAULT_HOLD_S) -> None:
        if hold_s < 0:
            raise ValueError("hold_s must be 0 or more")
        self._decode = decoder if decoder is not None else decoders.make_default()[1]
        self.hold_s = hold_s
        self._last_seen: dict[str, float] = {}  # decoded text -> when it was last in view

    def scan(self, image: Image, now: float) -> list[Scan]:
        """The codes in `image` (gray or BGR) not reported within the hold window."""
        found: list[Scan] = []
        for text in dict.fromkeys(self._decode(image)):
            last = self._last_seen.pop(text, None)
            self._last_seen[text] = now  # re-inserted: the dict stays in last-seen order
            if last is None or not 0 <= now - last < self.hold_s:
                found.append(Scan(classify(text), now))
        self._forget(now)
        return found

    def feed(self, frame: Frame) -> list[Scan]:
        """`scan` for a frame from a source, at the frame's own timestamp."""
        return self.scan(frame.image, frame.timestamp)

    def reset(self) -> None:
        """Forget what was seen (a new checkout: the same code may be shown again at once)."""
        self._last_seen.clear()

    def _forget(self, now: float) -> None:
        for text, seen in list(self._last_seen.items()):
            if now - seen < self.hold_s and len(self._last_seen) <= MAX_REMEMBERED:
                break  # the rest were seen more recently
            del self._last_seen[text]


def scanning_sink(scanner: CodeScanner, on_scan: Callable[[Scan], None],
                  on_end: Callable[[], None] | None = None) -> FrameSink:
    """A `FramePump` sink that scans every frame it is handed and reports each new code."""

    def sink(frame: Frame | None) -> None:
        if frame is None:
            if on_end is not None:
                on_end()
            return
        for scan in scanner.feed(frame):
            on_scan(scan)

    return sink
