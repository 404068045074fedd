"""Impossible travel: one payment credential used at two stores too far apart for the time.

* Distance is the great-circle (haversine) distance between the two stores, Earth radius
  6371.0088 km (the mean radius).
* A pair of uses is flagged when the distance is at least `min_km` (1 km: uses in the same
  street or mall, including simultaneous ones, are never flagged) and covering it in the time
  between the uses plus `slack_ms` (5 minutes, for clocks of different tills and payment
  timestamps) would take more than `max_kmh` (900 km/h, an airliner).
* `kmh` in the verdict is the plain distance / time without the slack; it is `math.inf` when
  both uses carry the same millisecond at different places (and 0.0 at the same place).
* The verdict is symmetric: the order of the two uses does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"not a position on Earth: {self.lat}, {self.lon}")


@dataclass(frozen=True, slots=True)
class CredentialUse:
    """One use of a payment credential (`payer` is the hash of the card or wallet payer)."""

    payer: str
    store_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class TravelVerdict:
    flagged: bool
    km: float
    hours: float
    kmh: float


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between `a` and `b` in km."""
    a, b = min(a, b, key=_key), max(a, b, key=_key)
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def _key(p: GeoPoint) -> tuple[float, float]:
    return (p.lat, p.lon)


def check_travel(previous_use: CredentialUse, this_use: CredentialUse,
                 stores_geo: Mapping[str, GeoPoint], *, max_kmh: float = 900.0,
                 min_km: float = 1.0, slack_ms: int = 300_000) -> TravelVerdict:
    """Whether the same credential could have been at both stores at those times."""
    if previous_use.payer != this_use.payer:
        raise ValueError("the two uses are of different credentials")
    missing = {previous_use.store_id, this_use.store_id} - stores_geo.keys()
    if missing:
        raise ValueError(f"no position for store(s) {sorted(missing)}")
    if previous_use.store_id == this_use.store_id:
        km = 0.0
    else:
        km = haversine_km(stores_geo[previous_use.store_id], stores_geo[this_use.store_id])
    gap_ms = abs(this_use.at_ms - previous_use.at_ms)
    hours = gap_ms / HOUR_MS
    kmh = km / hours if hours > 0 else (math.inf if km > 0 else 0.0)
    flagged = km >= min_km and km > max_kmh * (gap_ms + slack_ms) / HOUR_MS
    return TravelVerdict(flagged, km, hours, kmh)
