"""Running several decoders over the same labelled frames, and choosing the best one.

Shared by `bench/qr.py` (the figure) and the tests (the default decoder must read at least as
many codes as every other one). A frame counts as read when the expected text is among what
the decoder returned. The choice is the highest read rate; a tie goes to the faster median.
Decoders take turns going first on successive frames, so none is always the one that pays
for a cold cache.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # drawing the set needs `qrcode`; comparing frames does not
    from kiosk.vision.decoders import Decoder
    from kiosk.vision.degrade import Sample


@dataclass
class Score:
    """One decoder's results, frame by frame, with each frame's labels."""

    hits: list[bool] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return sum(self.hits) / len(self.hits) if self.hits else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms) if self.ms else 0.0

    def rate_by(self, label: str) -> dict[str, float]:
        """Read rate per value of one label (`variant`, `symbology`, `module_px`, `kind`)."""
        groups: dict[str, list[bool]] = {}
        for hit, labels in zip(self.hits, self.labels, strict=True):
            groups.setdefault(labels[label], []).append(hit)
        return {key: sum(v) / len(v) for key, v in groups.items()}


def labels_of(sample: Sample) -> dict[str, str]:
    return {"variant": sample.variant, "symbology": sample.symbology,
            "module_px": f"{sample.module_px}px"}


def compare(samples: Iterable[Sample], decoders: Mapping[str, Decoder], *,
            on_frame: Callable[[], None] | None = None,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, Score]:
    """Every decoder over every sample; `on_frame` is called after each frame (progress)."""
    names = list(decoders)
    scores = {name: Score() for name in names}
    for i, sample in enumerate(samples):
        labels = labels_of(sample)
        for name in names[i % len(names):] + names[:i % len(names)]:
            start = clock()
            texts = decoders[name](sample.frame)
            elapsed = (clock() - start) * 1000
            score = scores[name]
            score.hits.append(sample.text in texts)
            score.ms.append(elapsed)
            score.labels.append(labels)
        if on_frame is not None:
            on_frame()
    return scores


def choose(scores: Mapping[str, Score]) -> str:
    """The decoder with the best read rate; ties go to the lower median time."""
    if not scores:
        raise ValueError("no decoder was measured")
    return min(scores, key=lambda name: (-sum(scores[name].hits), scores[name].median_ms))
