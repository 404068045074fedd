"""Kivy's environment, set before the first `import kivy` (FIELD-NOTES: Kivy reads it once).

- `KIVY_NO_ARGS=1`: Kivy must not parse our command line;
- `KIVY_HOME`: a folder of ours (else `~/.kivy/config.ini` leaks settings between runs);
- `KIVY_LOG_MODE=PYTHON`: Kivy logs through `logging` like the rest of the terminal;
- `KIVY_METRICS_DENSITY=1`: the app converts dp/sp itself (`kiosk.app.profiles`);
- no display (no `DISPLAY`/`WAYLAND_DISPLAY`): SDL's `offscreen` driver (`dummy` fails).

`configure_kiosk` then sets Kivy's Config for kiosk use before the window exists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any


def prepare(kivy_home: Path | None = None,
            env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    env = os.environ if env is None else env
    if "kivy" in sys.modules and env is os.environ:
        # too late for KIVY_HOME and friends; keep going with what Kivy already read
        return env
    env.setdefault("KIVY_NO_ARGS", "1")
    env.setdefault("KIVY_LOG_MODE", "PYTHON")
    env.setdefault("KIVY_METRICS_DENSITY", "1")
    if kivy_home is not None:
        kivy_home.mkdir(parents=True, exist_ok=True)
        env["KIVY_HOME"] = str(kivy_home)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("SDL_VIDEODRIVER", "offscreen")
    return env


def configure_kiosk(config: Any, size: tuple[int, int], *, fullscreen: bool,
                    maxfps: int = 60) -> None:
    """Kivy Config for a kiosk: no exit on Escape, no screensaver, one input path (SDL's
    mouse events carry the touchscreen on X; probing /dev/input too doubles every touch),
    no multitouch emulation dots, the profile's size (or full screen)."""
    config.set("kivy", "exit_on_escape", "0")
    config.set("kivy", "pause_on_minimize", "0")
    config.set("kivy", "keyboard_mode", "system")
    config.set("graphics", "allow_screensaver", "0")
    config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    config.set("graphics", "borderless", "1" if fullscreen else "0")
    config.set("graphics", "width", str(size[0]))
    config.set("graphics", "height", str(size[1]))
    config.set("graphics", "resizable", "0" if fullscreen else "1")
    config.set("graphics", "maxfps", str(maxfps))
    for option in list(config.options("input")) if config.has_section("input") else []:
        config.remove_option("input", option)
    if not config.has_section("input"):
        config.add_section("input")
    config.set("input", "mouse", "mouse,disable_multitouch")
