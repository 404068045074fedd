"""Proof-of-play reports: local-time buckets (DST included), counting rules, brand isolation,
malformed events skipped, CSV; checked against hand-computed values and a naive aggregation."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_fixtures import db as db  # the fixture
from storage_fixtures import make_device, make_store

from broker.storage import (
    REPORT_COLUMNS,
    AlreadyExistsError,
    BrandRecord,
    CampaignRecord,
    Database,
    EventRow,
    PlayTotals,
    ReportRow,
    add_device,
    create_brand,
    create_campaign,
    insert_events,
    list_campaigns,
    local_day_bounds,
    play_report,
    play_totals,
    report_csv,
    token_sha256,
    upsert_store,
)

CREATIVE = "c0ffee" + "0" * 58
OTHER_CREATIVE = "ab" * 32
_seqs = itertools.count(1)


def utc_ms(text: str) -> int:
    """'2024-03-31T01:30:00' (UTC) -> epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def event(device: str, ts_ms: int, type_: str, data: Any) -> EventRow:
    text = data if isinstance(data, str) else json.dumps(data)
    return (device, next(_seqs), ts_ms, type_, text, ts_ms + 5)


def play(device: str, ts_ms: int, campaign: str | None, played_ms: int = 10_000,
         outcome: str = "complete", creative: str = CREATIVE) -> EventRow:
    return event(device, ts_ms, "ad.play", {
        "campaign_id": campaign, "creative": creative, "start_ms": ts_ms - played_ms,
        "played_ms": played_ms, "outcome": outcome})


def touch(device: str, ts_ms: int, campaign: str | None) -> EventRow:
    return event(device, ts_ms, "ad.touch", {"campaign_id": campaign, "creative": CREATIVE})


async def seed(db: Database) -> None:
    """Store sh-01 (two terminals) in Shanghai, be-01 (one terminal) in Berlin."""
    await upsert_store(db, make_store("sh-01"))
    await upsert_store(db, make_store("be-01", city="Berlin", timezone="Europe/Berlin"))
    for device_id, store_id in (("term-sh-1", "sh-01"), ("term-sh-2", "sh-01"),
                                ("term-be-1", "be-01")):
        with contextlib.suppress(AlreadyExistsError):
            await add_device(db, make_device(device_id, store_id))


def counts(rows: list[ReportRow]) -> dict[tuple[Any, ...], tuple[int, int, float, int]]:
    return {(r.campaign_id, r.store_id, r.bucket_start):
            (r.impressions, r.complete_plays, r.seconds_played, r.touches) for r in rows}


# ---- time zones -------------------------------------------------------------------------------


async def test_local_midnight_in_shanghai_splits_the_day(db: Database) -> None:
    await seed(db)
    midnight = utc_ms("2024-03-09T16:00:00")  # 2024-03-10 00:00 in Shanghai (UTC+8)
    await insert_events(db, [
        play("term-sh-1", midnight - 1, "cmp-a"),  # 23:59:59.999 local, 9 March
        play("term-sh-1", midnight, "cmp-a"),  # 00:00 local, 10 March
        play("term-sh-2", midnight + 4 * 3_600_000, "cmp-a"),  # 04:00 local, 20:00 UTC
    ])
    since, until = local_day_bounds("Asia/Shanghai", date(2024, 3, 9), date(2024, 3, 10))
    assert (since, until) == (utc_ms("2024-03-08T16:00:00"), utc_ms("2024-03-10T16:00:00"))
    rows = await play_report(db, campaign_ids=["cmp-a"], since_ms=since, until_ms=until,
                             bucket="day", tz="Asia/Shanghai")
    assert counts(rows) == {
        ("cmp-a", "sh-01", "2024-03-09"): (1, 1, 10.0, 0),
        ("cmp-a", "sh-01", "2024-03-10"): (2, 2, 20.0, 0),
    }
    in_utc = await play_report(db, campaign_ids=["cmp-a"], since_ms=since, until_ms=until,
                               bucket="day", tz="UTC")
    assert counts(in_utc) == {("cmp-a", "sh-01", "2024-03-09"): (3, 3, 30.0, 0)}
    hours = await play_report(db, campaign_ids=["cmp-a"], since_ms=since, until_ms=until,
                              bucket="hour", tz="Asia/Shanghai")
    assert [r.bucket_start for r in hours] == [
        "2024-03-09T23:00:00+08:00", "2024-03-10T00:00:00+08:00", "2024-03-10T04:00:00+08:00"]


async def test_berlin_dst_days_and_hours(db: Database) -> None:
    await seed(db)
    await insert_events(db, [
        # spring forward, 31 March 2024: 02:00 CET -> 03:00 CEST; the local day has 23 hours
        play("term-be-1", utc_ms("2024-03-30T22:59:59.999"), "cmp-a"),  # 23:59 CET, 30 March
        play("term-be-1", utc_ms("2024-03-30T23:00:00"), "cmp-a"),  # 00:00 CET, 31 March
        play("term-be-1", utc_ms("2024-03-31T00:30:00"), "cmp-a"),  # 01:30 CET
        play("term-be-1", utc_ms("2024-03-31T01:30:00"), "cmp-a"),  # 03:30 CEST
        play("term-be-1", utc_ms("2024-03-31T21:59:59.999"), "cmp-a"),  # 23:59 CEST, 31 March
        play("term-be-1", utc_ms("2024-03-31T22:00:00"), "cmp-a"),  # 00:00 CEST, 1 April
        # fall back, 27 October 2024: 03:00 CEST -> 02:00 CET; the local day has 25 hours
        play("term-be-1", utc_ms("2024-10-27T00:30:00"), "cmp-a"),  # 02:30 CEST
        play("term-be-1", utc_ms("2024-10-27T01:30:00"), "cmp-a"),  # 02:30 CET (again)
        play("term-be-1", utc_ms("2024-10-27T22:30:00"), "cmp-a"),  # 23:30 CET, 27 October
        play("term-be-1", utc_ms("2024-10-27T23:00:00"), "cmp-a"),  # 00:00 CET, 28 October
    ])
    since, until = utc_ms("2024-03-01T00:00:00"), utc_ms("2024-11-01T00:00:00")
    days = await play_report(db, campaign_ids=["cmp-a"], since_ms=since, until_ms=until,
                             bucket="day", tz="Europe/Berlin")
    assert [(r.bucket_start, r.impressions) for r in days] == [
        ("2024-03-30", 1), ("2024-03-31", 4), ("2024-04-01", 1),
        ("2024-10-27", 3), ("2024-10-28", 1),
    ]
    hours = await play_report(db, campaign_ids=["cmp-a"], since_ms=since, until_ms=until,
                              bucket="hour", tz="Europe/Berlin")
    assert [r.bucket_start for r in hours] == [
        "2024-03-30T23:00:00+01:00",
        "2024-03-31T00:00:00+01:00",
        "2024-03-31T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T23:00:00+02:00",
        "2024-04-01T00:00:00+02:00",
        "2024-10-27T02:00:00+02:00",  # the repeated hour is two buckets, told apart by offset
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T23:00:00+01:00",
        "2024-10-28T00:00:00+01:00",
    ]
    assert local_day_bounds("Europe/Berlin", date(2024, 10, 27), date(2024, 10, 27)) == (
        utc_ms("2024-10-26T22:00:00"), utc_ms("2024-10-27T23:00:00"))


# ---- counting ---------------------------------------------------------------------------------


async def test_counts_per_campaign_store_and_day_for_one_brand_only(db: Database) -> None:
    await seed(db)
    for brand in ("acme", "rival"):
        await create_brand(db, BrandRecord(brand, brand.title(), token_sha256(brand), 1))
    for campaign_id, brand in (("acme-spring", "acme"), ("acme-summer", "acme"),
                               ("rival-1", "rival")):
        await create_campaign(db, CampaignRecord(campaign_id, brand, campaign_id, {}, 1))
    day = utc_ms("2024-05-01T02:00:00")  # 10:00 in Shanghai, 04:00 in Berlin
    await insert_events(db, [
        play("term-sh-1", day, "acme-spring", 1_234),
        play("term-sh-2", day + 1, "acme-spring", 5_678, "interrupted"),
        play("term-sh-1", day + 2, "acme-spring", 1_250),
        touch("term-sh-1", day + 3, "acme-spring"),
        touch("term-sh-2", day + 4, "acme-spring"),
        play("term-be-1", day, "acme-spring", 1_249),
        play("term-be-1", day + 86_400_000, "acme-summer", 30_000, "interrupted"),
        touch("term-be-1", day + 86_400_000, "acme-summer"),
        # the rival brand and house content, in the same stores and days
        play("term-sh-1", day, "rival-1", 9_000),
        touch("term-sh-1", day, "rival-1"),
        play("term-sh-1", day, None, 15_000),
        play("term-be-1", day, None, 15_000, "interrupted"),
        touch("term-be-1", day, None),
        # other event types are no part of the report
        event("term-sh-1", day, "coupon.claim", {"campaign_id": "acme-spring"}),
        event("term-sh-1", day, "ad.impression", {"campaign_id": "acme-spring"}),
    ])
    acme = [c.campaign_id for c in await list_campaigns(db, brand_id="acme")]
    since, until = day - 86_400_000, day + 3 * 86_400_000
    rows = await play_report(db, campaign_ids=acme, since_ms=since, until_ms=until,
                             bucket="day", tz="Asia/Shanghai")
    assert rows == [
        ReportRow("acme-spring", "be-01", "2024-05-01", 1, 1, 1.2, 0),
        # 1234 + 5678 + 1250 = 8162 ms; the interrupted play is an impression, not complete
        ReportRow("acme-spring", "sh-01", "2024-05-01", 3, 2, 8.2, 2),
        ReportRow("acme-summer", "be-01", "2024-05-02", 1, 0, 30.0, 1),
    ]
    assert all(r.campaign_id in acme for r in rows)  # rival-1 and house never appear
    rival = await play_report(db, campaign_ids=["rival-1"], since_ms=since, until_ms=until,
                              bucket="day", tz="Asia/Shanghai")
    assert counts(rival) == {("rival-1", "sh-01", "2024-05-01"): (1, 1, 9.0, 1)}
    house = await play_report(db, campaign_ids=[None], since_ms=since, until_ms=until,
                              bucket="day", tz="UTC")
    assert counts(house) == {(None, "be-01", "2024-05-01"): (1, 0, 15.0, 1),
                             (None, "sh-01", "2024-05-01"): (1, 1, 15.0, 0)}
    assert await play_totals(db, campaign_ids=[*acme, None], since_ms=since,
                             until_ms=until) == {
        "acme-spring": PlayTotals(4, 3, 9.4, 2),  # 8162 + 1249 = 9411 ms
        "acme-summer": PlayTotals(1, 0, 30.0, 1),
        None: PlayTotals(2, 1, 30.0, 1),
    }
    # the window is [since, until): an event at `until` is out, one at `since` is in
    edge = await play_report(db, campaign_ids=["acme-spring"], since_ms=day + 1,
                             until_ms=day + 3, bucket="day")
    assert counts(edge) == {("acme-spring", "sh-01", "2024-05-01"): (2, 1, 6.9, 0)}


async def test_seconds_round_half_up_to_a_tenth(db: Database) -> None:
    await seed(db)
    t = utc_ms("2024-05-01T00:00:00")
    for i, played in enumerate((1_250, 1_249, 50, 49, 0, 3_600_000)):
        await insert_events(db, [play("term-sh-1", t + i * 3_600_000, "cmp-r", played)])
    rows = await play_report(db, campaign_ids=["cmp-r"], since_ms=t, until_ms=t + 86_400_000,
                             bucket="hour")
    assert [r.seconds_played for r in rows] == [1.3, 1.2, 0.1, 0.0, 0.0, 3600.0]


async def test_events_of_unregistered_devices_are_kept_without_a_store(db: Database) -> None:
    await seed(db)
    t = utc_ms("2024-05-01T00:00:00")
    await insert_events(db, [play("term-gone", t, "cmp-a"), play("term-sh-1", t, "cmp-a")])
    rows = await play_report(db, campaign_ids=["cmp-a"], since_ms=t, until_ms=t + 1,
                             bucket="day")
    assert [(r.store_id, r.impressions) for r in rows] == [("sh-01", 1), (None, 1)]


async def test_malformed_events_are_skipped(db: Database) -> None:
    await seed(db)
    t = utc_ms("2024-05-01T00:00:00")
    good = {"campaign_id": "cmp-m", "creative": CREATIVE, "start_ms": t - 1_000,
            "played_ms": 1_000, "outcome": "complete"}
    bad_plays: list[Any] = [
        {k: v for k, v in good.items() if k != "campaign_id"},
        {k: v for k, v in good.items() if k != "creative"},
        {k: v for k, v in good.items() if k != "start_ms"},
        {k: v for k, v in good.items() if k != "played_ms"},
        {k: v for k, v in good.items() if k != "outcome"},
        good | {"campaign_id": ["cmp-m"]},
        good | {"campaign_id": {"id": "cmp-m"}},
        good | {"campaign_id": 7},  # "7" is asked for below: a number is not that string
        good | {"campaign_id": True},
        good | {"creative": CREATIVE.upper()},
        good | {"creative": CREATIVE[:-1]},
        good | {"creative": CREATIVE + "0"},
        good | {"creative": 12345},
        good | {"creative": None},
        good | {"played_ms": "1000"},
        good | {"played_ms": 1000.5},
        good | {"played_ms": -1},
        good | {"played_ms": 3_600_001},
        good | {"played_ms": 10**30},
        good | {"played_ms": True},
        good | {"played_ms": None},
        good | {"played_ms": [1000]},
        good | {"start_ms": "x"},
        good | {"start_ms": -5},
        good | {"start_ms": 2**63},
        good | {"outcome": "COMPLETE"},
        good | {"outcome": "skipped"},
        good | {"outcome": ["complete"]},
        good | {"outcome": None},
        [good],
        "not an object",
        5,
        None,
        {},
    ]
    bad_touches: list[Any] = [
        {"campaign_id": "cmp-m"},
        {"creative": CREATIVE},
        {"campaign_id": "cmp-m", "creative": "nothex" * 10 + "abcd"},
        {"campaign_id": 7, "creative": CREATIVE},
        [],
    ]
    rows = [event("term-sh-1", t, "ad.play", json.dumps(d)) for d in bad_plays]
    rows += [event("term-sh-1", t, "ad.touch", json.dumps(d)) for d in bad_touches]
    rows += [
        # valid, oddly written: whole numbers as floats, extra fields, NUL and escapes in them
        event("term-sh-1", t, "ad.play", good | {"played_ms": 2500.0, "start_ms": 1.7e12,
                                                 "note": "nul \u0000 \\u0000 ü"}),
        event("term-sh-1", t, "ad.touch", {"campaign_id": "cmp-m", "creative": CREATIVE,
                                           "x": "\u0000"}),
        event("term-sh-1", t, "ad.play", good),
    ]
    await insert_events(db, rows)
    report = await play_report(db, campaign_ids=["cmp-m", "7"], since_ms=t, until_ms=t + 1,
                               bucket="day", tz="Europe/Berlin")
    assert report == [ReportRow("cmp-m", "sh-01", "2024-05-01", 2, 2, 3.5, 1)]
    house = await play_report(db, campaign_ids=[None], since_ms=t, until_ms=t + 1, bucket="day")
    assert house == []  # a missing campaign_id is malformed, not house content


# ---- arguments and CSV ------------------------------------------------------------------------


async def test_arguments_are_checked(db: Database) -> None:
    args: dict[str, Any] = {"campaign_ids": ["cmp-a"], "since_ms": 0, "until_ms": 86_400_000,
                            "bucket": "day"}
    assert await play_report(db, **args) == []
    assert await play_report(db, **(args | {"campaign_ids": []})) == []
    assert await play_report(db, **(args | {"since_ms": 5, "until_ms": 5})) == []
    for bad in ({"bucket": "week"}, {"tz": "Mars/Olympus"}, {"campaign_ids": "cmp-a"},
                {"campaign_ids": ["bad id"]}, {"campaign_ids": [7]}, {"since_ms": -1},
                {"until_ms": 1.5}, {"until_ms": 4_000 * 86_400_000}):
        with pytest.raises(ValueError):
            await play_report(db, **(args | bad))


def test_csv_round_trips_through_the_csv_module() -> None:
    rows = [
        ReportRow("cmp-a", "sh-01", "2024-05-01", 3, 2, 8.2, 2),
        ReportRow(None, None, "2024-10-27T02:00:00+01:00", 0, 0, 0.0, 1),
        ReportRow('odd,"id"\nline', "st ü", "2024-05-02", 10, 9, 1234567.5, 0),
    ]
    text = report_csv(rows)
    assert text.startswith(",".join(REPORT_COLUMNS) + "\r\n") and text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [list(REPORT_COLUMNS)] + [
        [r.campaign_id or "", r.store_id or "", r.bucket_start, str(r.impressions),
         str(r.complete_plays), f"{r.seconds_played:.1f}", str(r.touches)] for r in rows]
    assert report_csv([]) == ",".join(REPORT_COLUMNS) + "\r\n"


# ---- property: the report equals a naive aggregation in Python -------------------------------

_examples = itertools.count()
WINDOW_START = utc_ms("2024-10-26T00:00:00")  # Berlin falls back on 27 October
WINDOW_MS = 3 * 86_400_000
# every example has its own campaigns, stores and terminals (house content has no campaign to
# tell examples apart; unregistered devices, which share store None, are covered above)
DEVICES = {"term-sh-1": "sh", "term-sh-2": "sh", "term-be-1": "be"}
ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]

_whole_or_not = st.one_of(
    st.integers(0, 3_600_000), st.integers(0, 3_600_000).map(float),
    st.integers(-10**6, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), st.text(max_size=3), st.just([1]),
)


def _field(draw: st.DrawFn, valid: Any, wrong: st.SearchStrategy[Any]) -> Any:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return _MISSING
    return draw(wrong) if choice == 1 else valid


_MISSING = object()


@st.composite
def report_cases(draw: st.DrawFn) -> tuple[list[tuple[str, int, str, Any]], dict[str, Any]]:
    campaigns = ["a", "b", "c", None]
    events = []
    for _ in range(draw(st.integers(0, 25))):
        data: Any = {}
        fields = {
            "campaign_id": _field(draw, draw(st.sampled_from(campaigns)),
                                  st.sampled_from([7, True, ["a"], {"a": 1}, "zz"])),
            "creative": _field(draw, draw(st.sampled_from([CREATIVE, OTHER_CREATIVE])),
                               st.sampled_from([CREATIVE.upper(), "x" * 64, 64, None])),
            "start_ms": _field(draw, draw(st.integers(0, 2**45)), _whole_or_not),
            "played_ms": _field(draw, draw(st.integers(0, 3_600_000)), _whole_or_not),
            "outcome": _field(draw, draw(st.sampled_from(["complete", "interrupted"])),
                              st.sampled_from(["Complete", "", None, 1])),
        }
        data = {k: v for k, v in fields.items() if v is not _MISSING}
        if draw(st.integers(0, 19)) == 0:
            data = draw(st.sampled_from([[], "s", 3, None]))
        type_ = draw(st.sampled_from(["ad.play", "ad.play", "ad.touch", "coupon.claim"]))
        ts = WINDOW_START + draw(st.integers(0, WINDOW_MS))
        events.append((draw(st.sampled_from(sorted(DEVICES))), ts, type_, data))
    a, b = sorted(draw(st.lists(st.integers(0, WINDOW_MS), min_size=2, max_size=2)))
    query = {
        "campaign_ids": draw(st.sets(st.sampled_from(campaigns), min_size=1)),
        "since_ms": WINDOW_START + a,
        "until_ms": WINDOW_START + b + 1,
        "bucket": draw(st.sampled_from(["day", "hour"])),
        "tz": draw(st.sampled_from(ZONES)),
    }
    return events, query


def _whole(value: Any, high: int) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= high and value == int(value))


def naive_report(events: list[tuple[str, int, str, Any]], query: dict[str, Any],
                 prefix: str) -> dict[tuple[Any, ...], tuple[int, int, float, int]]:
    """The contract, written plainly: one event at a time."""
    zone = ZoneInfo(query["tz"])
    wanted = {None if c is None else f"{prefix}{c}" for c in query["campaign_ids"]}
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for device, ts, type_, data in events:
        if not query["since_ms"] <= ts < query["until_ms"] or not isinstance(data, dict):
            continue
        cid = data.get("campaign_id", _MISSING)
        creative = data.get("creative")
        if not (cid is None or isinstance(cid, str)) or cid not in wanted:
            continue
        if not (isinstance(creative, str) and len(creative) == 64
                and set(creative) <= set("0123456789abcdef")):
            continue
        local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts)).astimezone(zone)
        label = (local.date().isoformat() if query["bucket"] == "day"
                 else local.replace(minute=0, second=0, microsecond=0).isoformat())
        acc = sums[cid, prefix + DEVICES[device.removeprefix(prefix)], label]
        if type_ == "ad.touch":
            acc[3] += 1
        elif (type_ == "ad.play" and _whole(data.get("played_ms"), 3_600_000)
              and _whole(data.get("start_ms"), 32_503_680_000_000)
              and data.get("outcome") in ("complete", "interrupted")):
            acc[0] += 1
            acc[1] += data["outcome"] == "complete"
            acc[2] += int(data["played_ms"])
    return {
        key: (n, c, float((Decimal(ms) / 1000).quantize(Decimal("0.1"), ROUND_HALF_UP)), t)
        for key, (n, c, ms, t) in sums.items() if n or t
    }


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=report_cases())
async def test_report_equals_a_naive_aggregation(
    db: Database, case: tuple[list[tuple[str, int, str, Any]], dict[str, Any]]
) -> None:
    events, query = case
    n = next(_examples)
    prefix = f"h{n}-"  # each example counts only its own campaigns and devices (house content)
    await upsert_store(db, make_store(f"{prefix}sh"))
    await upsert_store(db, make_store(f"{prefix}be", city="Berlin", timezone="Europe/Berlin"))
    for device_id, store in DEVICES.items():
        await add_device(db, make_device(f"{prefix}{device_id}", f"{prefix}{store}"))
    events = [(f"{prefix}{d}", ts, t, data) for d, ts, t, data in events]

    def stored(data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("campaign_id"), str):
            return data | {"campaign_id": prefix + data["campaign_id"]}
        return data

    await insert_events(db, [event(d, ts, t, json.dumps(stored(data)))
                             for d, ts, t, data in events])
    events = [(d, ts, t, stored(data)) for d, ts, t, data in events]
    ids = [None if c is None else prefix + c for c in query["campaign_ids"]]
    every = await play_report(db, **(query | {"campaign_ids": ids}))
    # house content is not per example: keep this example's stores only
    rows = [r for r in every if (r.store_id or "").startswith(prefix)]
    assert counts(rows) == naive_report(events, query, prefix)
    assert len(counts(rows)) == len(rows)
    keys = [(r.campaign_id is None, r.campaign_id or "", r.store_id is None, r.store_id or "")
            for r in rows]
    assert keys == sorted(keys)
