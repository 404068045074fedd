"""The real `kiosk app` process: with its controller unreachable the attract loop plays on
(under the offline notice); killed outright (a crash), started again by its supervisor, it is
back on the attract loop with the same verified content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from broker.mosquitto import free_port
from kiosk import credentials
from kiosk.credentials import DeviceCredentials

REPO = Path(__file__).resolve().parents[1]


def stats(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def wait(proc: subprocess.Popen[bytes], path: Path, cond: Callable[[dict[str, Any]], bool],
         what: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the app exited ({proc.returncode}) waiting for {what}"
        s = stats(path)
        if s and cond(s):
            return s
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {stats(path)}")


def test_attract_loop_plays_offline_and_comes_back_after_a_crash(tmp_path: Path) -> None:
    creds = tmp_path / "creds.json"
    credentials.save(creds, [DeviceCredentials("till-offline", "secret", "127.0.0.1",
                                               free_port())])  # nobody listens there
    stats_file = tmp_path / "stats.json"
    cmd = [sys.executable, "-m", "kiosk.cli", "app", "--credentials", str(creds),
           "--data-dir", str(tmp_path / "data"), "--windowed", "--sample-content",
           "--speed", "20", "--offline-grace-s", "1", "--stats-file", str(stats_file)]
    log = (tmp_path / "app.log").open("wb")

    def start() -> subprocess.Popen[bytes]:
        stats_file.unlink(missing_ok=True)
        return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ))

    proc = start()
    try:
        first = wait(proc, stats_file, lambda s: s.get("first_frame_s") is not None,
                     "the first ad")
        playing = wait(proc, stats_file, lambda s: s["offline"] and s["shown"] >= first[
            "shown"] + 3, "three more ads under the offline notice")
        assert playing["screen"] == "attract"
        proc.kill()  # a crash: no clean-up at all
        proc.wait(10)
        proc = start()  # what the supervisor (systemd Restart=always) does
        again = wait(proc, stats_file, lambda s: s.get("first_frame_s") is not None,
                     "the first ad after the restart")
        wait(proc, stats_file, lambda s: s["shown"] >= again["shown"] + 2,
             "the loop going on after the restart")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    text = (tmp_path / "app.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
