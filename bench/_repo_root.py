"""Imported first by every bench script: puts the repository root, not `bench/`, on sys.path.

Python puts a script's own folder first on sys.path, and `bench/kiosk.py` (the touchscreen
app's benchmark, named by its issue) would then shadow the `kiosk` package for every other
script here. Importing this module removes `bench/` from the path and puts the root in front.
"""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p and Path(p).resolve() not in (BENCH, ROOT)]
if sys.modules.get("kiosk") is not None and not hasattr(sys.modules["kiosk"], "__path__"):
    del sys.modules["kiosk"]  # bench/kiosk.py was imported as `kiosk` before this ran
