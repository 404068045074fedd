"""How an hour is shared out: eligibility, allowances (share, cap, budget) and the fill.

Used by `scheduler.compile_playlists`; campaigns are numbered in fill order (paid before
house, higher priority first, then campaign_id), and sets of campaigns are int bitsets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from broker.signage.campaigns import Campaign
from broker.signage.layout import Layout, make_hour
from broker.signage.localtime import Slot, calendar, slot_eligible
from broker.signage.targeting import ScreenIndex
from content.playlist import HOUR_MS, PlaylistHour

CHUNK = 32
_CHUNK_MASK = (1 << CHUNK) - 1


class WindowPlan:
    """Per timezone: which campaigns are eligible in each window hour (flight + dayparts)."""

    def __init__(self, campaigns: Sequence[Campaign], tz_slots: dict[str, list[Slot]]) -> None:
        self.active: dict[str, int] = {}  # eligible in some window hour
        self.eligible: dict[str, list[int]] = {}  # per window hour
        self.bits: dict[str, list[int]] = {}  # per campaign: bitset of its window hours
        shared: dict[tuple, str] = {}
        for tz, slots in tz_slots.items():
            twin = shared.setdefault(tuple(slots), tz)
            if twin != tz:
                self.active[tz], self.eligible[tz] = self.active[twin], self.eligible[twin]
                self.bits[tz] = self.bits[twin]
                continue
            active, eligible, bits = 0, [0] * len(slots), []
            for i, c in enumerate(campaigns):
                first, last, masks = c.first_day, c.last_day, c.daypart_masks
                b = 0
                for p, slot in enumerate(slots):
                    if slot_eligible(slot, first, last, masks):
                        b |= 1 << p
                        eligible[p] |= 1 << i
                bits.append(b)
                if b:
                    active |= 1 << i
            self.active[tz], self.eligible[tz], self.bits[tz] = active, eligible, bits


class Pacing:
    """Plays campaign `i` may have in window hour `p` on one screen of timezone `tz`."""

    def __init__(self, camps: Sequence[Campaign], plan: WindowPlan, index: ScreenIndex,
                 window: range, pace_from: int, delivered: Mapping[str, int]) -> None:
        self.camps, self.plan, self.index, self.window = camps, plan, index, window
        self.pace_from, self.delivered = pace_from, delivered
        self._budget: dict[int, tuple[int, int, dict[str, int]]] = {}
        self._tables: dict[tuple[str, int], list[int | None]] = {}

    def _budget_state(self, i: int) -> tuple[int, int, dict[str, int]]:
        """(plays left, booked screen-hours left, per-tz index of the window's first hour)."""
        got = self._budget.get(i)
        if got is not None:
            return got
        c = self.camps[i]
        assert c.budget_plays is not None
        left = max(0, c.budget_plays - self.delivered.get(c.campaign_id, 0))
        index, masks, first, last = self.index, c.daypart_masks, c.first_day, c.last_day
        reach = index.mask(c.rule) & index.orientation_mask(c.fits_orientations())
        screens: dict[str, int] = {}
        remaining = 0
        for tz in self.plan.bits:
            n = index.count(reach & index.timezone_mask(tz))
            if n:
                screens[tz] = n
                remaining += n * calendar(tz).count_hours(masks, first, last, self.pace_from)
        base: dict[str, int] = {}
        bound = 0
        for tz, n in screens.items():
            k0 = calendar(tz).count_hours(masks, first, last, None, self.window.start)
            k1 = k0 + self.plan.bits[tz][i].bit_count()
            base[tz] = k0
            if remaining:
                bound += n * (k1 * left // remaining - k0 * left // remaining)
        if bound > left:  # the flight-anchored sequence could overshoot: restart at the window
            base = dict.fromkeys(screens, 0)
        got = self._budget[i] = (left, remaining, base)
        return got

    def compute(self, i: int, tz: str, p: int) -> int:
        c = self.camps[i]
        a = c.plays_per_hour
        cap = c.frequency_cap_per_day
        if cap is not None:
            j, n = calendar(tz).index_in_day(c.daypart_masks, self.window[p], c.first_day,
                                             c.last_day)
            a = min(a, (j + 1) * cap // n - j * cap // n)
        if c.budget_plays is not None and a:
            left, remaining, base = self._budget_state(i)
            if not remaining or tz not in base:
                return 0
            k = base[tz] + (self.plan.bits[tz][i] & ((1 << p) - 1)).bit_count()
            a = min(a, (k + 1) * left // remaining - k * left // remaining)
        return a

    def table(self, tz: str, p: int) -> list[int | None]:
        """Allowances by campaign for (tz, p), filled lazily (None: not computed yet)."""
        got = self._tables.get((tz, p))
        if got is None:
            got = self._tables[(tz, p)] = [None] * len(self.camps)
        return got

    def allowance(self, i: int, tz: str, p: int) -> int:
        table = self.table(tz, p)
        a = table[i]
        if a is None:
            a = table[i] = self.compute(i, tz, p)
        return a


Part = tuple[int, tuple[tuple[int, int, int], ...], tuple[int, ...]]  # (ms, alloc, play keys)


class HourCompiler:
    """Fills one hour for a (timezone, orientation, eligible-campaign bitset), memoised.

    Paid campaigns are taken in fill order, CHUNK at a time. A chunk's outcome when the hour
    has room for all of it depends only on (timezone, orientation, hour, chunk bits), so
    profiles that differ in a few campaigns share the work on every other chunk; only the chunk
    where the hour runs out is computed against the time left.
    """

    def __init__(self, camps: Sequence[Campaign], n_paid: int,
                 ids: dict[str, list[tuple[int, ...]]], house_ids: dict[str, tuple[int, ...]],
                 layout: Layout, pacing: Pacing) -> None:
        self.camps, self.n_paid, self.ids, self.house_ids = camps, n_paid, ids, house_ids
        self.layout, self.pacing = layout, pacing
        self.pph = [c.plays_per_hour for c in camps]
        self.paid_mask = (1 << n_paid) - 1
        self.durations = [p[1] for p in layout.plays]
        self.shortest = min(self.durations, default=HOUR_MS)
        self.hours: dict[tuple, PlaylistHour] = {}
        self.contents: dict[tuple, list] = {}
        self._full: dict[tuple, Part] = {}
        self._partial: dict[tuple, Part] = {}
        self._interned: dict[tuple, Part] = {}
        self._loops: dict[tuple[str, int], tuple[int, ...]] = {}
        self._loop_ms: dict[int, int] = {}

    def _house_loop(self, o: str, house_bits: int) -> tuple[int, ...]:
        got = self._loops.get((o, house_bits))
        if got is None:
            got = ()
            b, i = house_bits, self.n_paid
            while b:
                if b & 1:
                    got += self.ids[o][i]
                b >>= 1
                i += 1
            got = self._loops[(o, house_bits)] = got or self.house_ids[o]
            self._loop_ms[id(got)] = sum(self.durations[i] for i in got)
        return got

    def _fill(self, tz: str, o: str, p: int, h: int, base: int, bits: int, left: int) -> Part:
        """Allocate campaigns `bits` (<< base) into `left` ms: (ms used, alloc, play keys)."""
        alloc = []
        table = self.pacing.table(tz, p)
        compute = self.pacing.compute
        ids, durations, run = self.ids[o], self.durations, self.layout.run
        runs = []
        used = 0
        while bits and left >= self.shortest:
            low = bits & -bits
            i = base + low.bit_length() - 1
            bits ^= low
            a = table[i]
            if a is None:
                a = table[i] = compute(i, tz, p)
            if a <= 0:
                continue
            cr = ids[i]
            if len(cr) == 1:
                d = durations[cr[0]]
                n = min(a, left // d)
                start = 0
                left -= n * d
                used += n * d
            else:
                start = h * self.pph[i] % len(cr)
                n = 0
                while n < a:
                    d = durations[cr[(start + n) % len(cr)]]
                    if d > left:
                        break
                    left -= d
                    used += d
                    n += 1
            if n:
                alloc.append((i, n, start))
                runs.append(run(cr, n, start))
        alloc_key = (o, tuple(alloc))
        part = self._interned.get(alloc_key)  # the same allocation in another hour: same object
        if part is None:
            part = self._interned[alloc_key] = (used, alloc_key[1], self.layout.merged(runs))
        return part

    def hour(self, tz: str, o: str, p: int, h: int, eligible: int) -> PlaylistHour:
        key = (tz, o, p, eligible)
        got = self.hours.get(key)
        if got is not None:
            return got
        left = HOUR_MS
        parts: list[Part] = []
        paid = eligible & self.paid_mask
        base = 0
        while paid and left >= self.shortest:
            bits = paid & _CHUNK_MASK
            if bits:
                ck = (tz, o, p, base, bits)
                part = self._full.get(ck)
                if part is None:
                    part = self._full[ck] = self._fill(tz, o, p, h, base, bits, HOUR_MS)
                if part[0] > left:
                    ck = (tz, o, p, base, bits, left)
                    part = self._partial.get(ck)
                    if part is None:
                        part = self._partial[ck] = self._fill(tz, o, p, h, base, bits, left)
                if part[1]:
                    parts.append(part)
                    left -= part[0]
            paid >>= CHUNK
            base += CHUNK
        house_bits = eligible >> self.n_paid if left else 0
        loop = self._house_loop(o, house_bits) if left else ()
        house_start = 0
        if left and self._loop_ms[id(loop)] > left:  # not all house plays fit: rotate hourly
            house_start = h % len(loop)
        ckey = (o, tuple(map(id, parts)), house_bits, house_start, left)
        items = self.contents.get(ckey)
        if items is None:
            runs = [part[2] for part in parts]
            tail = None
            if left:
                house_keys, tail = self.layout.house(loop, house_start, left)
                runs.append(house_keys)
            items = self.contents[ckey] = self.layout.hour_items(runs, tail)
        got = self.hours[key] = make_hour(h * HOUR_MS, items)
        return got
