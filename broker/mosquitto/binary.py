"""Finding the mosquitto executable."""

from __future__ import annotations

import os
import shutil

from broker.mosquitto.errors import BrokerError

# Debian/Ubuntu install the broker in /usr/sbin, often not on a normal user's PATH.
_SEARCH_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin")


def find_mosquitto() -> str:
    """Path of the mosquitto binary (PATH first, then the sbin directories)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for directory in _SEARCH_DIRS:
        candidate = os.path.join(directory, "mosquitto")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError(
        "mosquitto not found: install the 'mosquitto' package (apt-get install mosquitto)"
    )
