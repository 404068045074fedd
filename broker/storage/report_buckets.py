"""Local-time buckets for reports, exact across DST on SQLite and PostgreSQL (no I/O).

Python finds where a zone's UTC offset changes inside the report's range (`offset_segments`);
`bucket_sql` turns those few constant-offset intervals into integer arithmetic on `v.ts_ms`
(a CASE over the intervals), and `bucket_label` turns a bucket key back into an ISO date or a
local datetime with its offset. `local_day_bounds` gives the UTC ms of local midnights.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from broker.storage.records import is_valid_timezone

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
Bucket = Literal["day", "hour"]

# Added to ts_ms + offset so the integer division never sees a negative number (offsets reach
# -12 h); a whole number of days, so it changes no bucket boundary.
_SHIFT_MS = DAY_MS
_PROBE_MS = 6 * HOUR_MS  # zones change offset at most once in this long
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _offset_ms(zone: ZoneInfo, t_ms: int) -> int:
    offset = (_EPOCH + timedelta(milliseconds=t_ms)).astimezone(zone).utcoffset()
    assert offset is not None
    return offset // timedelta(milliseconds=1)


def offset_segments(zone: ZoneInfo, since_ms: int, until_ms: int) -> list[tuple[int, int]]:
    """[(start_ms, utc_offset_ms)]: `zone`'s offset is constant from each start to the next.

    The first start is `since_ms`; the last segment runs to `until_ms`. Changes are found by
    probing every 6 hours and bisecting to the millisecond where the offset differs.
    """
    current = _offset_ms(zone, since_ms)
    segments = [(since_ms, current)]
    low = since_ms
    while low < until_ms - 1:
        high = min(low + _PROBE_MS, until_ms - 1)
        offset = _offset_ms(zone, high)
        if offset != current:
            a, b = low, high  # offset(a) == current != offset(b)
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_ms(zone, mid) == current:
                    a = mid
                else:
                    b = mid
            segments.append((b, offset))
            current = offset
        low = high
    return segments


def bucket_sql(bucket: Bucket | None, segments: list[tuple[int, int]]) -> str:
    """SQL mapping v.ts_ms to a bucket key: the local day's number (plus 1) or the UTC ms of
    the local hour's start (plus `_SHIFT_MS`); None: one bucket. Every number in it is an int
    computed here, never caller text."""
    if bucket is None:
        return "0"

    def key(offset: int) -> str:
        shifted = int(offset) + _SHIFT_MS
        if bucket == "day":
            return f"(v.ts_ms + {shifted}) / {DAY_MS}"
        return f"(v.ts_ms + {shifted}) / {HOUR_MS} * {HOUR_MS} - {offset}"

    if len(segments) == 1:
        return key(segments[0][1])
    whens = " ".join(
        f"WHEN v.ts_ms < {int(nxt)} THEN {key(offset)}"
        for (_, offset), (nxt, _) in itertools.pairwise(segments)
    )
    return f"CASE {whens} ELSE {key(segments[-1][1])} END"


def bucket_label(bucket: Bucket, zone: ZoneInfo, key: int) -> tuple[int, str]:
    """(sort key, ISO label) of a bucket key computed by `bucket_sql`."""
    if bucket == "day":
        day = date(1970, 1, 1) + timedelta(days=key - _SHIFT_MS // DAY_MS)
        return key, day.isoformat()
    start_ms = key - _SHIFT_MS
    local = (_EPOCH + timedelta(milliseconds=start_ms)).astimezone(zone)
    return key, local.isoformat()


def local_day_bounds(tz: str, first: date, last: date) -> tuple[int, int]:
    """(since_ms, until_ms) covering the local days `first`..`last` (inclusive) in `tz`."""
    if not is_valid_timezone(tz):
        raise ValueError(f"tz must be an IANA zone name like 'Asia/Shanghai', got {tz!r}")
    zone = ZoneInfo(tz)

    def midnight(day: date) -> int:
        return (datetime.combine(day, time(0), tzinfo=zone) - _EPOCH) // timedelta(milliseconds=1)

    return midnight(first), midnight(last + timedelta(days=1))
