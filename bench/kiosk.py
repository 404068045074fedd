"""The touchscreen app's start-up, memory and frame rate (run it under a display:
`xvfb-run -a -s "-screen 0 1920x1920x24" .venv/bin/python bench/kiosk.py`; without one the app
uses SDL's offscreen driver).

The real `kiosk app` process plays the sample playlist (posters and the sample video,
cross-faded, from a verified library on disk) on an accelerated playlist clock:
  cold start   process launch → the first ad frame drawn (the library already on disk, as
               on a terminal that boots);
  memory       RSS once the first creatives are loaded and at the end of the soak (at least 30
               minutes of playlist time, every item an image or video load and a fade),
               each the mean of 1-s readings over 10 s;
  frame rate   frames drawn per second during cross-fades.
Last line: {"cold_start_to_first_ad_s", "rss_mb_start", "rss_mb_after_soak", "soak_minutes",
            "fps_attract", "rss_growth_second_half_pct", ...} — the last one compares the end
            of the soak with its middle: a leak keeps growing, a warm-up does not.
Usage: python bench/kiosk.py [--minutes 3] [--speed 10] [--profile 10in-landscape]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/
import psutil

from content.samples import generate_samples

WARM_S = 5.0  # after the first frame: the first image and video are loaded
WINDOW_S = 10.0  # each RSS figure is the mean over this many seconds of 1-s readings


def read_stats(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def wait_for(path: Path, proc: subprocess.Popen[bytes], key: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}")
        stats = read_stats(path)
        if stats.get(key) is not None:
            return stats
        time.sleep(0.05)
    raise SystemExit(f"no {key} after {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="real minutes of soak")
    ap.add_argument("--speed", type=float, default=10.0, help="playlist time per real time")
    ap.add_argument("--profile", default="10in-landscape")
    ap.add_argument("--data-dir", type=Path)
    args = ap.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    generate_samples(data / "sample-content" / "samples")  # on disk before the boot
    stats_file = data / "stats.json"
    stats_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "kiosk.cli", "app", "--windowed", "--sample-content",
           "--speed", str(args.speed), "--profile", args.profile, "--data-dir", str(data),
           "--stats-file", str(stats_file)]
    log = (data / "app.log").open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        first = wait_for(stats_file, proc, "first_frame_s", 60)
        cold = first["first_frame_s"] - t0
        print(f"first ad frame after {cold:.2f} s", flush=True)
        app = psutil.Process(proc.pid)
        time.sleep(WARM_S)
        start = read_stats(stats_file)
        soak_s = args.minutes * 60
        began = last_print = time.monotonic()
        samples: list[tuple[float, float]] = []  # (seconds into the soak, rss MB), each second
        while (at := time.monotonic() - began) < soak_s:
            samples.append((at, app.memory_info().rss / 2**20))
            if time.monotonic() - last_print >= 15:
                last_print = time.monotonic()
                s = read_stats(stats_file)
                print(f"soak {at:5.0f} s: rss {samples[-1][1]:6.1f} MB, creatives shown "
                      f"{s.get('shown')}, fps {s.get('fps')}", flush=True)
            if proc.poll() is not None:
                raise SystemExit(f"the app exited during the soak ({proc.returncode})")
            time.sleep(1.0)
        end = read_stats(stats_file)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    fade_frames = end.get("fade_frames", 0) - start.get("fade_frames", 0)
    fade_s = end.get("fade_seconds", 0.0) - start.get("fade_seconds", 0.0)
    playlist_minutes = (time.monotonic() - t0) * args.speed / 60
    # RSS moves with each video's decoder buffers (allocated, then trimmed when it leaves), so
    # each reading is the mean over WINDOW_S: at the start, the middle and the end of the soak.
    # Still growing in the second half, or a level reached? That tells a leak from a warm-up.
    rss_start = window(samples, 0, WINDOW_S)
    mid = window(samples, soak_s / 2 - WINDOW_S / 2, soak_s / 2 + WINDOW_S / 2)
    rss_end = window(samples, soak_s - WINDOW_S, soak_s)
    result = {
        "cold_start_to_first_ad_s": round(cold, 2),
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_after_soak": round(rss_end, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
        "rss_mb_mid_soak": round(mid, 1),
        "rss_growth_second_half_pct": round(100 * (rss_end - mid) / mid, 1),
        "soak_minutes": round(playlist_minutes, 1),
        "soak_real_minutes": args.minutes,
        "creatives_shown": end.get("shown", 0),
        "fps_attract": round(fade_frames / fade_s, 1) if fade_s > 0 else None,
        "profile": args.profile,
    }
    print(json.dumps(result), flush=True)


def window(samples: list[tuple[float, float]], lo: float, hi: float) -> float:
    inside = [rss for t, rss in samples if lo <= t <= hi]
    return statistics.fmean(inside) if inside else samples[-1][1]


if __name__ == "__main__":
    main()
