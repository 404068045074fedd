"""Make paho-mqtt's `Properties()` cheap: it is built for every MQTT 5 packet, on both sides.

paho-mqtt 2.x creates a `Properties` object for every PUBLISH received, every PUBACK and most
packets sent. Its constructor rebuilds three lookup tables each time (a list of type names, a
dict of 27 property names and a dict of 27 property rules with 27 `list.index` calls), which
is ~7 µs of pure overhead per packet: measured on a 1,000-terminal ingest run, a fifth of the
simulated terminals' CPU. The tables are never modified after construction (paho only reads
them), so `install()` replaces the constructor with one that shares a single copy.

`install()` is idempotent and checks itself: it builds one object the original way and one the
fast way and compares their tables; if paho's class has changed shape it leaves paho alone and
logs why. Called when the terminal agent and the controller's MQTT link are imported.
"""

from __future__ import annotations

import logging
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)
_TABLES = ("types", "names", "properties")
_installed = False


def install() -> bool:
    """Share paho's property tables between all `Properties` objects; True when active."""
    global _installed
    if _installed:
        return True
    original = Properties.__init__
    reference = Properties(PacketTypes.PUBLISH)
    if not all(hasattr(reference, name) for name in _TABLES):
        log.warning("paho Properties has changed shape; keeping its own constructor")
        return False
    shared = {name: getattr(reference, name) for name in _TABLES}

    def fast_init(self: Any, packetType: int) -> None:
        d = self.__dict__
        d["packetType"] = packetType
        d.update(shared)

    Properties.__init__ = fast_init  # type: ignore[method-assign]
    probe = Properties(PacketTypes.PUBLISH)
    if vars(probe) != vars(reference):
        Properties.__init__ = original  # type: ignore[method-assign]
        log.warning("paho Properties did not match after sharing its tables; reverted")
        return False
    _installed = True
    return True
