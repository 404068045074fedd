"""Who sees a campaign: screens, targeting rules and the indexes that match them fast.

A `Rule` is a conjunction of optional conditions (a missing condition matches everything):
cities, districts, formats, footfall tiers and orientations are any-of sets, `tags_any` needs
one of its tags on the store, `tags_all` needs all of them, and min/max inches bound the screen.

Two inverted indexes avoid a loop over every screen per campaign:

* `ScreenIndex` groups identical screens (same attributes) into *classes* and keeps, per
  attribute value, the set of classes having it as an int bitset; a rule's matching set is a few
  bitset unions and intersections, and counting screens in a set is a handful of popcounts.
* `RuleIndex` (`rule_index.py`) is the mirror image over many rules: per attribute value, the
  bitset of rules accepting it, so the rules matching one screen class are a few intersections.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from broker.signage.bitsets import bit_positions, bits_of
from broker.signage.localtime import is_timezone

ORIENTATIONS: tuple[str, ...] = ("landscape", "portrait")
ScreenOrientation = Literal["landscape", "portrait"]
_Text = Annotated[str, Field(min_length=1, max_length=100)]


@dataclass(frozen=True, slots=True)
class Screen:
    """One terminal's screen with the attributes of the store it stands in."""

    device_id: str
    store_id: str
    city: str
    district: str
    format: str
    footfall_tier: int
    tags: frozenset[str]
    timezone: str
    screen_inches: float
    orientation: str
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.tags, frozenset):
            if isinstance(self.tags, str):
                raise ValueError(f"screen {self.device_id!r}: tags must be a set of strings")
            object.__setattr__(self, "tags", frozenset(self.tags))
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"screen {self.device_id!r}: orientation must be one of "
                             f"{list(ORIENTATIONS)}, got {self.orientation!r}")
        if not is_timezone(self.timezone):
            raise ValueError(f"screen {self.device_id!r}: unknown timezone {self.timezone!r}")
        object.__setattr__(self, "key", (
            self.city, self.district, self.format, self.footfall_tier, self.tags,
            self.timezone, float(self.screen_inches), self.orientation))


def _nonempty(name: str, value: frozenset | None) -> None:
    if value is not None and not value:
        raise ValueError(f"{name} is empty, so nothing could match: leave it out to accept any")


class Rule(BaseModel):
    """Which screens a campaign targets. Every given condition must hold (AND)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cities: frozenset[_Text] | None = None
    districts: frozenset[_Text] | None = None
    formats: frozenset[_Text] | None = None
    footfall_tiers: frozenset[Annotated[int, Field(strict=True, ge=1, le=5)]] | None = None
    tags_any: frozenset[_Text] | None = None
    tags_all: frozenset[_Text] | None = None
    orientations: frozenset[ScreenOrientation] | None = None
    min_inches: Annotated[float, Field(gt=0, le=200)] | None = None
    max_inches: Annotated[float, Field(gt=0, le=200)] | None = None

    @model_validator(mode="after")
    def _possible(self) -> Rule:
        for name in ("cities", "districts", "formats", "footfall_tiers", "tags_any", "tags_all",
                     "orientations"):
            _nonempty(name, getattr(self, name))
        if (self.min_inches is not None and self.max_inches is not None
                and self.min_inches > self.max_inches):
            raise ValueError(f"min_inches {self.min_inches} is above max_inches "
                             f"{self.max_inches}, so no screen could match")
        return self

    def matches(self, screen: Screen) -> bool:
        """The plain definition (the indexes must agree with it)."""
        return (
            (self.cities is None or screen.city in self.cities)
            and (self.districts is None or screen.district in self.districts)
            and (self.formats is None or screen.format in self.formats)
            and (self.footfall_tiers is None or screen.footfall_tier in self.footfall_tiers)
            and (self.tags_any is None or not self.tags_any.isdisjoint(screen.tags))
            and (self.tags_all is None or self.tags_all <= screen.tags)
            and (self.orientations is None or screen.orientation in self.orientations)
            and (self.min_inches is None or screen.screen_inches >= self.min_inches)
            and (self.max_inches is None or screen.screen_inches <= self.max_inches)
        )


ANY_OF = ("city", "district", "format", "footfall_tier", "timezone", "orientation")


class ScreenIndex:
    """Inverted index over screens, grouped into classes of identical attributes."""

    def __init__(self, screens: Iterable[Screen]) -> None:
        groups: dict[tuple, list[Screen]] = {}
        for screen in screens:
            groups.setdefault(screen.key, []).append(screen)
        self.classes: list[tuple] = list(groups)
        self.members: list[list[Screen]] = list(groups.values())
        self.size = sum(len(m) for m in self.members)
        n = len(self.classes)
        self.all = (1 << n) - 1
        positions: dict[str, dict[object, list[int]]] = {a: {} for a in ANY_OF}
        tags: dict[str, list[int]] = {}
        inches: dict[float, list[int]] = {}
        weights: dict[int, list[int]] = {}
        for i, key in enumerate(self.classes):
            city, district, fmt, tier, tag_set, tz, size, orientation = key
            for attr, value in zip(ANY_OF, (city, district, fmt, tier, tz, orientation),
                                   strict=True):
                positions[attr].setdefault(value, []).append(i)
            for tag in tag_set:
                tags.setdefault(tag, []).append(i)
            inches.setdefault(size, []).append(i)
            count = len(self.members[i])
            for b in range(count.bit_length()):
                if count >> b & 1:
                    weights.setdefault(b, []).append(i)
        self.by: dict[str, dict[object, int]] = {
            attr: {v: bits_of(p, n) for v, p in values.items()}
            for attr, values in positions.items()
        }
        self.by_tag = {t: bits_of(p, n) for t, p in tags.items()}
        self.by_inches = sorted((v, bits_of(p, n)) for v, p in inches.items())
        self._weights = [(b, bits_of(p, n)) for b, p in sorted(weights.items())]

    def __len__(self) -> int:
        return self.size

    def _any(self, attr: str, values: Iterable[object]) -> int:
        table = self.by[attr]
        mask = 0
        for v in values:
            mask |= table.get(v, 0)
        return mask

    def mask(self, rule: Rule) -> int:
        """Bitset of the classes matching `rule`."""
        m = self.all
        if rule.cities is not None:
            m &= self._any("city", rule.cities)
        if rule.districts is not None:
            m &= self._any("district", rule.districts)
        if rule.formats is not None:
            m &= self._any("format", rule.formats)
        if rule.footfall_tiers is not None:
            m &= self._any("footfall_tier", rule.footfall_tiers)
        if rule.orientations is not None:
            m &= self._any("orientation", rule.orientations)
        if rule.tags_any is not None:
            any_mask = 0
            for t in rule.tags_any:
                any_mask |= self.by_tag.get(t, 0)
            m &= any_mask
        if rule.tags_all is not None:
            for t in rule.tags_all:
                m &= self.by_tag.get(t, 0)
        if rule.min_inches is not None or rule.max_inches is not None:
            lo = rule.min_inches if rule.min_inches is not None else float("-inf")
            hi = rule.max_inches if rule.max_inches is not None else float("inf")
            size_mask = 0
            for value, bits in self.by_inches:
                if lo <= value <= hi:
                    size_mask |= bits
            m &= size_mask
        return m

    def count(self, mask: int) -> int:
        """How many screens the classes in `mask` hold."""
        return sum((mask & w).bit_count() << b for b, w in self._weights)

    def timezone_mask(self, name: str) -> int:
        return self.by["timezone"].get(name, 0)

    def orientation_mask(self, orientations: Iterable[str]) -> int:
        return self._any("orientation", orientations)

    def screens(self, mask: int) -> Iterator[Screen]:
        for i in bit_positions(mask):
            yield from self.members[i]

    def matching(self, rule: Rule) -> list[Screen]:
        """The screens matching `rule`, in class order."""
        return list(self.screens(self.mask(rule)))

    def device_ids(self, rule: Rule) -> frozenset[str]:
        return frozenset(s.device_id for s in self.screens(self.mask(rule)))

    def stores(self, mask: int) -> frozenset[str]:
        return frozenset(s.store_id for s in self.screens(mask))
