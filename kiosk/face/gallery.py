"""The 1:N gallery: every enrolled template, searched by Euclidean distance, one answer per member.

Small galleries are scanned exactly with numpy (all templates, one matrix product). From
`ann_threshold` templates an IVF index (`kiosk.face.ann`) answers instead: it is trained once
when the gallery crosses the threshold, new templates are added to it one by one, and it is
retrained only when the gallery has grown `regrow`-fold since — in a background thread that
snapshots the templates, trains outside the lock and then replays what changed meanwhile, so
searches and enrolments never wait for a training (until the index is ready, the exact scan
answers). Memory is amortised like a list: the matrix doubles when full.

Deletion reaches every copy (DESIGN "Privacy rules for faces"): `remove_member` removes the
member's rows from the matrix (the last rows move into the holes, and the vacated rows are
zeroed) and their ids from the index, and forgets every mapping; a search can no longer return
them — results are only ever built from templates still present. One lock guards it all.

An index can miss a neighbour, and for a payment the runner-up matters as much as the best
(the margin rule): measured at 100k with 5,000 enrolled look-alikes 0.1–0.3 apart, the index
alone accepted the wrong member or an ambiguous face in 7 of 3,413 cases the exact scan calls
ambiguous. So an indexed answer whose best member is within `confirm_below` — one that could be
accepted — is recomputed by the exact scan (~1 ms at 100k on an idle machine, several under
load; only while an enrolled face is in front of the camera): every accept is the exact scan's,
and the index answers the frames that cannot accept anyone. What the index can still cause is
a false reject (the member's own template missed: 0–2 in 4,000 measured).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from kiosk.face.ann import DIM, IvfIndex, as_template
from kiosk.face.types import Match, Vector

log = logging.getLogger(__name__)


class Gallery:
    """Templates of enrolled members (implements `kiosk.face.types.GalleryLike`).

    `len(gallery)` is the number of members (what the second-factor rule counts);
    `template_count` the number of templates. `confirm_below` must be at least the decision's
    `max_distance` (0.45): an indexed answer that close is re-checked by the exact scan.
    `background=False` trains inline, holding the lock (tests, benchmarks, one-off tools).
    """

    def __init__(self, *, ann_threshold: int = 20_000, regrow: float = 4.0,
                 background: bool = True, nprobe_fraction: float = 1 / 16,
                 confirm_below: float = 0.6) -> None:
        self.ann_threshold = ann_threshold
        self.confirm_below = confirm_below
        self.regrow = regrow
        self.background = background
        self.nprobe_fraction = nprobe_fraction
        self._lock = threading.RLock()
        self._vecs = np.zeros((64, DIM), dtype=np.float32)
        self._sq = np.zeros(64, dtype=np.float32)  # squared norms, for the exact scan
        self._ids = np.zeros(64, dtype=np.int64)  # stable id of each row
        self._n = 0
        self._next_id = 0
        self._row: dict[int, int] = {}  # id -> row
        self._owner: dict[int, str] = {}  # id -> member
        self._tname: dict[int, str] = {}  # id -> template id
        self._by_template: dict[str, int] = {}  # template id -> id
        self._by_member: dict[str, set[int]] = {}
        self._max_per_member = 0
        self._index: IvfIndex | None = None
        self._building: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._by_member)

    @property
    def template_count(self) -> int:
        return self._n

    @property
    def indexed(self) -> bool:
        """Whether searches go through the ANN index (else: the exact scan)."""
        return self._index is not None

    def members(self) -> set[str]:
        with self._lock:
            return set(self._by_member)

    def add(self, member_id: str, template_id: str, vector: Vector) -> None:
        """Add (or replace, same `template_id`) one template; incremental, no rebuild."""
        self.add_many([(member_id, template_id, vector)])

    def add_many(self, items: Iterable[tuple[str, str, Vector]]) -> None:
        """Add many templates at once (loading the store): the index is (re)built at most once."""
        latest = {template: (member, as_template(vec)) for member, template, vec in items}
        with self._lock:
            self._remove_ids([self._by_template[t] for t in latest if t in self._by_template])
            first = self._n
            for template_id, (member_id, vec) in latest.items():
                self._append(member_id, template_id, vec)
            if self._index is not None and self._n > first:
                self._index.add(self._vecs[first:self._n], self._ids[first:self._n])
            self._maybe_reindex()

    def remove_member(self, member_id: str) -> int:
        """Drop every template of `member_id` from every structure; how many were removed."""
        with self._lock:
            ids = self._by_member.get(member_id, set())
            return self._remove_ids(list(ids))

    def remove_template(self, template_id: str) -> bool:
        with self._lock:
            tid = self._by_template.get(template_id)
            return tid is not None and self._remove_ids([tid]) == 1

    def search(self, vector: Vector, k: int = 2) -> list[Match]:
        """The `k` nearest members (best template each), nearest first, exact distances."""
        q = np.asarray(vector, dtype=np.float32).reshape(DIM)
        with self._lock:
            if self._n == 0 or k <= 0:
                return []
            want = min(self._n, k * max(1, self._max_per_member))
            if self._index is not None:
                _, ids = self._index.search(q, want)
                found = self._members(q, k, [self._row[i] for i in ids.tolist() if i in self._row])
                if found and found[0].distance > self.confirm_below:
                    return found  # nobody close: whatever the index missed, no one is accepted
            d2 = self._sq[:self._n] - 2.0 * (self._vecs[:self._n] @ q)
            rows = np.argpartition(d2, want - 1)[:want] if want < self._n else range(self._n)
            return self._members(q, k, rows)

    def _members(self, q: Vector, k: int, rows: Sequence[int] | np.ndarray) -> list[Match]:
        """The first `k` distinct members among these rows, by exact (float64) distance."""
        rows = np.asarray(rows, dtype=np.int64)
        exact = np.linalg.norm(self._vecs[rows].astype(np.float64) - q, axis=1)
        out: list[Match] = []
        seen: set[str] = set()
        for j in np.argsort(exact, kind="stable"):
            member = self._owner[int(self._ids[rows[j]])]
            if member not in seen:
                seen.add(member)
                out.append(Match(member, float(exact[j])))
                if len(out) == k:
                    break
        return out

    def wait_for_index(self, timeout: float | None = None) -> None:
        """Block until a background (re)build has finished (tests, benchmarks, shutdown)."""
        while (thread := self._building) is not None:
            thread.join(timeout)
            if timeout is not None:
                return

    # -- internals (called with the lock held) -------------------------------------------------

    def _append(self, member_id: str, template_id: str, vec: Vector) -> None:
        if self._n == len(self._vecs):
            self._grow()
        row, tid = self._n, self._next_id
        self._next_id += 1
        self._vecs[row] = vec
        self._sq[row] = float(vec @ vec)
        self._ids[row] = tid
        self._n += 1
        self._row[tid] = row
        self._owner[tid] = member_id
        self._tname[tid] = template_id
        self._by_template[template_id] = tid
        owned = self._by_member.setdefault(member_id, set())
        owned.add(tid)
        self._max_per_member = max(self._max_per_member, len(owned))

    def _grow(self) -> None:
        cap = 2 * len(self._vecs)
        for name in ("_vecs", "_sq", "_ids"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            new[:self._n] = old[:self._n]
            setattr(self, name, new)

    def _remove_ids(self, ids: list[int]) -> int:
        if not ids:
            return 0
        if self._index is not None:
            self._index.remove(ids)
        emptied = False
        for tid in ids:
            member = self._owner.pop(tid)
            del self._by_template[self._tname.pop(tid)]
            owned = self._by_member[member]
            emptied |= len(owned) == self._max_per_member
            owned.discard(tid)
            if not owned:
                del self._by_member[member]
        for row in sorted((self._row.pop(t) for t in ids), reverse=True):
            last = self._n - 1
            if row != last:  # the last row fills the hole
                self._vecs[row], self._sq[row] = self._vecs[last], self._sq[last]
                self._ids[row] = self._ids[last]
                self._row[int(self._ids[row])] = row
            self._vecs[last], self._sq[last], self._ids[last] = 0.0, 0.0, 0
            self._n = last
        if emptied:
            self._max_per_member = max(map(len, self._by_member.values()), default=0)
        if self._index is not None and self._n < self.ann_threshold // 2:
            self._index = None  # small again: exact is fast, and one structure fewer to hold
        return len(ids)

    def _maybe_reindex(self) -> None:
        if self._building is not None or self._n < self.ann_threshold:
            return
        if self._index is not None and self._n < self.regrow * self._index.trained_size:
            return
        if self.background:
            self._building = threading.Thread(target=self._rebuild, name="face-gallery-index",
                                              daemon=True)
            self._building.start()
        else:
            self._rebuild()

    def _rebuild(self) -> None:
        """Train a new index on a snapshot, then replay the changes made while it trained."""
        built = False
        try:
            with self._lock:
                snap_vecs = self._vecs[:self._n].copy()
                snap_ids = self._ids[:self._n].copy()
            index = IvfIndex.build(snap_vecs, snap_ids, nprobe_fraction=self.nprobe_fraction)
            del snap_vecs  # the snapshot may hold a member deleted meanwhile: drop it now
            with self._lock:
                snapped = set(snap_ids.tolist())
                index.remove(t for t in snapped if t not in self._row)
                new_rows = [r for t, r in self._row.items() if t not in snapped]
                if new_rows:
                    index.add(self._vecs[new_rows], self._ids[new_rows])
                if self._n >= self.ann_threshold // 2:
                    self._index = index
                built = True
        except Exception:  # a failed build leaves the exact scan answering
            log.exception("face gallery: building the ANN index failed")
        finally:
            with self._lock:
                self._building = None
                if self.background and built:
                    self._maybe_reindex()  # grown again while it trained (no retry on failure)

