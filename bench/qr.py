"""Benchmark: which code decoder reads the most payment codes from degraded camera frames.

Draws the generated degraded set (`kiosk.vision.degrade`: 1280×720 BGR frames, QR codes and
Code128 barcodes at 2/3/5 px per module, rotated or tilted, blurred, low contrast, glare, JPEG,
small) and runs every decoder that is installed over every frame, timing each call (median ms
per 720p frame, BGR in, as the camera delivers it). The choice is the best read rate, a tie
going to the faster. The terminal's default decoder should be that choice: a mismatch is
printed as a warning on stderr.

    .venv/bin/python bench/qr.py [--seed 2024] [--every 1] [--decoders zxing-cpp,opencv-qr]

Progress goes to stderr; stdout has the per-decoder tables, and its last line is one JSON
object: {"decoder", "decode_rate", "ms_per_frame_720p", "rates", "ms", "frames"}.
"""

from __future__ import annotations

import argparse
import sys

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from kiosk.vision import decoders as dec
from kiosk.vision.compare import Score, choose, compare
from kiosk.vision.degrade import (
    DEFAULT_SEED,
    GEOMETRIES,
    PHOTOMETRICS,
    degraded_set,
    plan,
    subset,
)


def _tables(scores: dict[str, Score], chosen: str) -> list[Table]:
    names = list(scores)
    summary = Table(title="Decoders over the degraded set (read rate, median ms per 720p frame)")
    summary.add_column("decoder", no_wrap=True, min_width=16)
    for column in ("rate", "median ms", "p90 ms", "QR", "Code128", "2px", "3px", "5px"):
        summary.add_column(column, justify="right")
    for name, s in scores.items():
        sym, px = s.rate_by("symbology"), s.rate_by("module_px")
        p90 = sorted(s.ms)[int(0.9 * (len(s.ms) - 1))] if s.ms else 0.0
        summary.add_row(name + (" *" if name == chosen else ""), f"{s.rate:.1%}",
                        f"{s.median_ms:.2f}", f"{p90:.2f}", f"{sym.get('qr', 0):.0%}",
                        f"{sym.get('code128', 0):.0%}",
                        *(f"{px.get(k, 0):.0%}" for k in ("2px", "3px", "5px")))
    by_variant = Table(title="Read rate by variant")
    by_variant.add_column("variant", no_wrap=True, min_width=24)
    for name in names:
        by_variant.add_column(name, justify="right")
    rates = {name: scores[name].rate_by("variant") for name in names}
    order = [f"{g}+{p}" for g in GEOMETRIES for p in PHOTOMETRICS]
    for variant in sorted(rates[names[0]], key=lambda v: order.index(v) if v in order else 99):
        by_variant.add_row(variant, *(f"{rates[n][variant]:.0%}" for n in names))
    return [summary, by_variant]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--every", type=int, default=1, help="use about one frame in N only")
    parser.add_argument("--decoders", default="", help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    err = Console(stderr=True)
    out = Console(width=None if sys.stdout.isatty() else 120)  # piped: do not squeeze to 80

    wanted = [n for n in args.decoders.split(",") if n] or list(dec.NAMES)
    decoders = {}
    for name in wanted:
        try:
            decoders[name] = dec.make(name)
        except dec.DecoderUnavailable as exc:
            err.print(f"[yellow]skipped[/]: {exc}")
    if not decoders:
        err.print("[red]no decoder available[/]")
        return 1
    total = len(subset(plan(args.seed), args.every))
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=err) as progress:
        task = progress.add_task(f"{len(decoders)} decoders", total=total)
        scores = compare(degraded_set(args.seed, every=args.every), decoders,
                         on_frame=lambda: progress.advance(task))

    chosen = choose(scores)
    for table in _tables(scores, chosen):
        out.print(table)
    if chosen != dec.DEFAULT_DECODER and dec.DEFAULT_DECODER in scores:
        err.print(f"[yellow]warning[/]: the best decoder here is {chosen}, but kiosk.vision "
                  f"uses {dec.DEFAULT_DECODER} by default")
    best = scores[chosen]
    print(orjson.dumps({
        "decoder": chosen,
        "decode_rate": round(best.rate, 4),
        "ms_per_frame_720p": round(best.median_ms, 2),
        "rates": {n: round(s.rate, 4) for n, s in scores.items()},
        "ms": {n: round(s.median_ms, 2) for n, s in scores.items()},
        "frames": total,
    }).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
