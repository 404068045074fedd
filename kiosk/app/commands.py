"""The `kiosk app` and `kiosk pin-hash` sub-commands (argument parsing only; no Kivy here)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from kiosk.app.pin import hash_pin
from kiosk.app.profiles import DEFAULT_PROFILE, PROFILES

PIN_ENV = "KIOSK_TECH_PIN_HASH"


def add_app_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ap = sub.add_parser("app", help="run the touchscreen app (agent, signage and checkout)")
    ap.add_argument("--credentials", type=Path,
                    help="the terminal's credentials; without them no controller is used")
    ap.add_argument("--data-dir", type=Path, default=Path("var/kiosk"))
    ap.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE)
    ap.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    ap.add_argument("--sample-content", action="store_true",
                    help="play locally drawn sample creatives (no controller content)")
    ap.add_argument("--speed", type=float, default=1.0,
                    help="with --sample-content: playlist time runs this many times faster")
    ap.add_argument("--stats-file", type=Path, help="write the app's figures here (bench)")
    ap.add_argument("--idle-s", type=float, default=60.0,
                    help="no touch this long on an app screen: back to the attract loop")
    ap.add_argument("--offline-grace-s", type=float, default=10.0,
                    help="the controller unreachable this long: the offline notice shows")
    ap.add_argument("--heartbeat-s", type=float, default=30.0)
    ap.add_argument("--camera", type=int, help="camera device index for the preview")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub.add_parser("pin-hash", help=f"hash a technician PIN (read from stdin) for ${PIN_ENV}")


def run_app_command(args: argparse.Namespace) -> int:
    if args.cmd == "pin-hash":
        pin = (getpass.getpass("PIN: ") if sys.stdin.isatty() else sys.stdin.readline()).strip()
        print(hash_pin(pin))
        return 0
    from kiosk.app.run import AppOptions, run_app

    pin_hash = os.environ.get(PIN_ENV) or None
    opts = AppOptions(data_dir=args.data_dir, credentials=args.credentials,
                      profile=args.profile, fullscreen=not args.windowed, pin_hash=pin_hash,
                      sample_content=args.sample_content, speed=args.speed,
                      stats_file=args.stats_file, idle_s=args.idle_s,
                      offline_grace_s=args.offline_grace_s,
                      heartbeat_s=args.heartbeat_s, camera=args.camera)
    return asyncio.run(run_app(opts))
