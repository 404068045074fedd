"""Benchmark: compile every terminal's playlist for the next hours from a big booking book.

Generates, deterministically (fixed seed), a fleet of stores across cities, districts, formats,
footfall tiers, shopper-profile tags and timezones, terminals of two screen kinds, and a year's
booking book of campaigns (varied rules, dayparts, priorities, caps, budgets), then times
`compile_playlists` for all terminals. As a baseline it times the naive way of finding each
terminal's campaigns (every rule against every terminal) on a sample and extrapolates.

    .venv/bin/python bench/schedule.py [--terminals 10000] [--campaigns 2000] [--hours 6]

Progress goes to stderr; the last stdout line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import orjson
from rich.console import Console

from broker.signage import Campaign, Creative, Rule, Screen, compile_playlists
from broker.signage.localtime import calendar, slot_eligible
from content.playlist import HOUR_MS

CITIES = [  # (name, timezone, weight)
    ("Shanghai", "Asia/Shanghai", 9), ("Beijing", "Asia/Shanghai", 9),
    ("Guangzhou", "Asia/Shanghai", 7), ("Shenzhen", "Asia/Shanghai", 7),
    ("Chengdu", "Asia/Shanghai", 6), ("Hangzhou", "Asia/Shanghai", 6),
    ("Wuhan", "Asia/Shanghai", 5), ("Xian", "Asia/Shanghai", 5), ("Nanjing", "Asia/Shanghai", 5),
    ("Chongqing", "Asia/Shanghai", 5), ("Tianjin", "Asia/Shanghai", 4),
    ("Suzhou", "Asia/Shanghai", 4), ("Changsha", "Asia/Shanghai", 3),
    ("Zhengzhou", "Asia/Shanghai", 3), ("Qingdao", "Asia/Shanghai", 3),
    ("Dalian", "Asia/Shanghai", 3), ("Xiamen", "Asia/Shanghai", 3),
    ("Kunming", "Asia/Shanghai", 3), ("Shenyang", "Asia/Shanghai", 3),
    ("Harbin", "Asia/Shanghai", 2), ("Jinan", "Asia/Shanghai", 2), ("Hefei", "Asia/Shanghai", 2),
    ("Fuzhou", "Asia/Shanghai", 2), ("Nanning", "Asia/Shanghai", 2),
    ("Guiyang", "Asia/Shanghai", 2), ("Taiyuan", "Asia/Shanghai", 2),
    ("Lanzhou", "Asia/Shanghai", 1), ("Haikou", "Asia/Shanghai", 1),
    ("Urumqi", "Asia/Urumqi", 2), ("Kashgar", "Asia/Urumqi", 1), ("Korla", "Asia/Urumqi", 1),
    ("Hong Kong", "Asia/Hong_Kong", 5), ("Kowloon", "Asia/Hong_Kong", 3),
    ("Bangkok", "Asia/Bangkok", 5), ("Chiang Mai", "Asia/Bangkok", 2),
    ("Phuket", "Asia/Bangkok", 1), ("Pattaya", "Asia/Bangkok", 1),
    ("Ho Chi Minh City", "Asia/Bangkok", 3), ("Hanoi", "Asia/Bangkok", 2),
    ("Vientiane", "Asia/Bangkok", 1),
]
FORMATS = [("supermarket", 45), ("convenience", 40), ("hypermarket", 15)]
DISTRICT_KINDS = ["cbd", "residential", "university", "transit", "suburban", "tourist"]
EXTRA_TAGS = ["24h", "parking", "mall", "family", "premium"]
KINDS = [(10.1, "landscape"), (12.0, "portrait")]
DAYPARTS = [("daily 07-23", 35), ("Mon-Fri 07-10", 12), ("daily 11-14", 12),
            ("Mon-Fri 17-21", 12), ("Sat-Sun 09-21", 10), ("Mon-Fri 07-10 17-20", 9),
            ("daily 00-24", 5), ("Fri-Sun 18-23", 5)]


def _pick(rng: random.Random, weighted: list[tuple[object, int]]) -> object:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def make_fleet(rng: random.Random, n_stores: int, n_terminals: int) -> list[Screen]:
    weights = [w for _, _, w in CITIES]
    districts = {
        name: [(f"{name} D{j + 1}", rng.choice(DISTRICT_KINDS)) for j in range(rng.randint(4, 9))]
        for name, _, _ in CITIES
    }
    stores = []
    for s in range(n_stores):
        city, tz, _ = rng.choices(CITIES, weights)[0]
        district, kind = rng.choice(districts[city])
        fmt = _pick(rng, FORMATS)
        tier = rng.choices([1, 2, 3, 4], [10, 30, 40, 20])[0]
        tags = {kind} | {t for t in EXTRA_TAGS if rng.random() < 0.12}
        stores.append((f"s{s:05d}", city, district, fmt, tier, frozenset(tags), tz))
    per_format = {"hypermarket": 10, "supermarket": 5, "convenience": 2}
    wants = [per_format[st[3]] for st in stores]
    scale = n_terminals / sum(wants)
    counts = [max(1, int(w * scale)) for w in wants]
    i = 0
    while sum(counts) < n_terminals:
        counts[i % n_stores] += 1
        i += 7
    while sum(counts) > n_terminals:
        j = max(range(n_stores), key=counts.__getitem__)
        counts[j] -= 1
    screens = []
    n = 0
    for st, count in zip(stores, counts, strict=True):
        store_id, city, district, fmt, tier, tags, tz = st
        kind = rng.randrange(2)
        for t in range(count):
            inches, orientation = KINDS[kind if fmt != "hypermarket" or t % 2 else 1 - kind]
            screens.append(Screen(f"t{n:05d}", store_id, city, district, fmt, tier, tags, tz,
                                  inches, orientation))
            n += 1
    return screens


def _creatives(rng: random.Random, serial: int) -> tuple[Creative, ...]:
    out = []
    for k in range(rng.choices([1, 2, 3], [55, 30, 15])[0]):
        seed = f"{serial}-{k}".encode()
        sha = (seed.hex() * 64)[:64]
        duration = rng.choice([10_000, 10_000, 15_000, 15_000, 20_000, 30_000])
        orientation = rng.choices(["any", "landscape", "portrait"], [60, 20, 20])[0]
        out.append(Creative(sha256=sha, duration_ms=duration, orientation=orientation))
    if not any(c.orientation == "any" for c in out):
        out[0] = Creative(sha256=out[0].sha256, duration_ms=out[0].duration_ms)
    return tuple(out)


def _rule(rng: random.Random, screens: list[Screen]) -> Rule:
    cities = [c for c, _, _ in CITIES]
    weights = [w for _, _, w in CITIES]
    kind = rng.choices(["national", "cities", "districts", "formats", "tags_any", "tags_all",
                        "screen"], [12, 40, 10, 15, 13, 5, 5])[0]
    if kind == "national":
        return Rule()
    if kind == "cities":
        chosen = set(rng.choices(cities, weights, k=rng.randint(1, 4)))
        extra = {"formats": {rng.choice(FORMATS)[0]}} if rng.random() < 0.3 else {}
        return Rule(cities=chosen, **extra)
    if kind == "districts":
        s = rng.choice(screens)
        near = {x.district for x in screens[:: 97] if x.city == s.city} | {s.district}
        return Rule(cities={s.city}, districts=set(rng.sample(sorted(near), min(2, len(near)))))
    if kind == "formats":
        tiers = {1, 2} if rng.random() < 0.5 else {1, 2, 3}
        return Rule(formats={rng.choice(FORMATS)[0]}, footfall_tiers=tiers)
    if kind == "tags_any":
        return Rule(tags_any=set(rng.sample(DISTRICT_KINDS, 2)))
    if kind == "tags_all":
        return Rule(tags_all={rng.choice(DISTRICT_KINDS), rng.choice(EXTRA_TAGS)})
    return Rule(min_inches=11.0, orientations={"portrait"})


def make_campaigns(rng: random.Random, n: int, screens: list[Screen], today: date,
                   spread_days: int = 180) -> list[Campaign]:
    out = []
    for k in range(n):
        start = today + timedelta(days=rng.randint(-spread_days, spread_days))
        end = start + timedelta(days=rng.randint(7, 56))
        creatives = _creatives(rng, k)
        longest = max(c.duration_ms for c in creatives)
        pph = min(rng.choice([2, 4, 6, 6, 8, 12, 12, 20, 30]), HOUR_MS // longest)
        cap = pph * rng.randint(3, 8) if rng.random() < 0.3 else None
        budget = rng.randint(20, 400) * 1000 if rng.random() < 0.5 else None
        out.append(Campaign(
            campaign_id=f"c{k:05d}", brand_id=f"brand{rng.randrange(150):03d}", name=f"c{k}",
            flight_start=start, flight_end=end, dayparts=_pick(rng, DAYPARTS),
            priority=rng.choices(range(1, 11), [2, 4, 8, 12, 16, 16, 12, 8, 4, 2])[0],
            plays_per_hour=pph, frequency_cap_per_day=cap, budget_plays=budget,
            creatives=creatives, rule=_rule(rng, screens)))
    for k, (fmt, _) in enumerate(FORMATS * 4):
        out.append(Campaign(
            campaign_id=f"house{k:02d}", brand_id="retailer", name=f"house {fmt}",
            flight_start=today - timedelta(days=30), flight_end=today + timedelta(days=60),
            creatives=_creatives(rng, 90_000 + k), rule=Rule(formats={fmt}), house=True))
    return out


def naive_seconds(screens: list[Screen], campaigns: list[Campaign], start_ms: int, hours: int,
                  sample: int) -> float:
    """Matching only, the naive way: per terminal, every campaign's rule and every hour."""
    picked = screens[:: max(1, len(screens) // sample)][:sample]
    fits = [set(c.fits_orientations()) for c in campaigns]
    plans = [(c.rule, c.first_day, c.last_day, c.daypart_masks) for c in campaigns]
    t = time.perf_counter()
    for s in picked:
        cal = calendar(s.timezone)
        slots = [cal.slot(start_ms // HOUR_MS + p) for p in range(hours)]
        for (rule, first, last, masks), fit in zip(plans, fits, strict=True):
            if s.orientation in fit and rule.matches(s):
                for slot in slots:
                    slot_eligible(slot, first, last, masks)
    return (time.perf_counter() - t) * len(screens) / len(picked)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terminals", type=int, default=10_000)
    ap.add_argument("--campaigns", type=int, default=2_000)
    ap.add_argument("--stores", type=int, default=0, help="default: terminals / 4")
    ap.add_argument("--hours", type=int, default=6)
    ap.add_argument("--spread-days", type=int, default=180,
                    help="flights start within +-this many days of now (180: a year's booking "
                         "book, ~9%% of it live; 60: a dense book, ~25%% live)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    ap.add_argument("--profile", action="store_true", help="cProfile one run to stderr")
    args = ap.parse_args(argv)
    err = Console(stderr=True)
    rng = random.Random(20240501)
    now = datetime(2024, 5, 6, 1, 20, tzinfo=UTC)  # Monday 09:20 in Shanghai
    now_ms = int(now.timestamp() * 1000)
    t = time.perf_counter()
    screens = make_fleet(rng, args.stores or max(1, args.terminals // 4), args.terminals)
    campaigns = make_campaigns(rng, args.campaigns, screens, date(2024, 5, 6),
                               args.spread_days)
    house = [Creative(sha256=f"{k:064x}", duration_ms=15_000) for k in range(1, 7)]
    build_s = time.perf_counter() - t
    err.log(f"inputs: {len(screens)} terminals, {len(campaigns)} campaigns in {build_s:.2f} s")
    naive_s = naive_seconds(screens, campaigns, now_ms, args.hours, sample=200)
    err.log(f"baseline: naive per-terminal matching alone ~{naive_s:.2f} s (from 200 terminals)")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        compile_playlists(screens, campaigns, house, now_ms, args.hours, now_ms)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    runs: list[float] = []
    cpus: list[float] = []
    stats: dict[str, int] = {}
    for _ in range(max(1, args.repeat)):
        stats = {}
        t = time.perf_counter()
        cpu = time.process_time()
        out = compile_playlists(screens, campaigns, house, now_ms, args.hours, now_ms,
                                stats=stats)
        runs.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu)
        err.log(f"compiled {len(out)} playlists in {runs[-1]:.3f} s (cpu {cpus[-1]:.3f} s)")
    err.log(f"stats: {stats}")
    print(orjson.dumps({
        "terminals": len(screens), "campaigns": len(campaigns), "hours": args.hours,
        "seconds": round(min(runs), 4), "cpu_seconds": round(min(cpus), 4),
        "first_run_seconds": round(runs[0], 4),
        "inputs_seconds": round(build_s, 3), "naive_matching_seconds": round(naive_s, 3),
        **stats,
    }).decode())


if __name__ == "__main__":
    main()
