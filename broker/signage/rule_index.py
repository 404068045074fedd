"""Inverted index over many targeting rules: which of them match a given screen class.

Per attribute value, the bitset of rules accepting it (or not constraining that attribute);
the rules matching a screen class are then a handful of bitset intersections instead of a loop
over every rule. The scheduler uses it to give each class of identical screens its campaigns.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.signage.bitsets import bit_positions, bits_of
from broker.signage.targeting import ANY_OF, Rule, Screen


class RuleIndex:
    """Inverted index over rules: which of them match a given screen class."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        n = len(self.rules)
        self.all = (1 << n) - 1
        free: dict[str, list[int]] = {a: [] for a in ANY_OF}
        accept: dict[str, dict[object, list[int]]] = {a: {} for a in ANY_OF}
        any_free: list[int] = []
        any_has: dict[str, list[int]] = {}
        needs: dict[str, list[int]] = {}
        self._sized: list[tuple[int, float, float]] = []
        for i, r in enumerate(self.rules):
            values = (r.cities, r.districts, r.formats, r.footfall_tiers, None, r.orientations)
            for attr, allowed in zip(ANY_OF, values, strict=True):
                if allowed is None:
                    free[attr].append(i)
                else:
                    for v in allowed:
                        accept[attr].setdefault(v, []).append(i)
            if r.tags_any is None:
                any_free.append(i)
            else:
                for t in r.tags_any:
                    any_has.setdefault(t, []).append(i)
            for t in r.tags_all or ():
                needs.setdefault(t, []).append(i)
            if r.min_inches is not None or r.max_inches is not None:
                self._sized.append((i, r.min_inches if r.min_inches is not None else -1.0,
                                    r.max_inches if r.max_inches is not None else 1e9))
        self._free = {a: bits_of(p, n) for a, p in free.items()}
        self._accept = {a: {v: bits_of(p, n) for v, p in d.items()} for a, d in accept.items()}
        self._any_free = bits_of(any_free, n)
        self._any_has = {t: bits_of(p, n) for t, p in any_has.items()}
        self._needs = {t: bits_of(p, n) for t, p in needs.items()}
        self._sized_mask = bits_of((i for i, _, _ in self._sized), n)
        self._inch_cache: dict[float, int] = {}

    def _inches(self, value: float) -> int:
        got = self._inch_cache.get(value)
        if got is None:
            ok = bits_of((i for i, lo, hi in self._sized if lo <= value <= hi), len(self.rules))
            got = self._inch_cache[value] = (self.all & ~self._sized_mask) | ok
        return got

    def mask(self, key: tuple) -> int:
        """Bitset of the rules matching a screen class `key` (`Screen.key`)."""
        city, district, fmt, tier, tags, _tz, inches, orientation = key
        free, accept = self._free, self._accept
        m = (free["city"] | accept["city"].get(city, 0))
        m &= free["district"] | accept["district"].get(district, 0)
        m &= free["format"] | accept["format"].get(fmt, 0)
        m &= free["footfall_tier"] | accept["footfall_tier"].get(tier, 0)
        m &= free["orientation"] | accept["orientation"].get(orientation, 0)
        any_ok = self._any_free
        for t in tags:
            any_ok |= self._any_has.get(t, 0)
        m &= any_ok
        for t, needers in self._needs.items():
            if t not in tags:
                m &= ~needers
        if self._sized:
            m &= self._inches(inches)
        return m

    def matching(self, screen: Screen) -> list[int]:
        """Positions of the rules matching `screen`, ascending."""
        return bit_positions(self.mask(screen.key))
