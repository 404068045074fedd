"""Campaigns as brands book them: creatives, flight, dayparts, share of voice, caps, budget.

Models are validated on construction and refuse impossible settings with the reason (a
pydantic `ValidationError`, itself a `ValueError`). Flight dates are inclusive and, like the
dayparts, read in each store's own timezone: "Mon-Fri 07-10" plays 07:00-10:00 Shanghai time in
Shanghai and 07:00-10:00 Urumqi time in Urumqi.

House campaigns (`house=True`) are the store's own content: they fill unsold time, so they
take no budget, no frequency cap and no share of voice, and play at any hour unless dayparts
are given.

`booking.check_overlaps` is the booking-time check across campaigns.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from broker.signage.localtime import Masks, masks_of
from broker.signage.offer import CouponOffer
from broker.signage.targeting import Rule
from content.playlist import HOUR_MS, CampaignId, Sha256

CreativeOrientation = Literal["portrait", "landscape", "any"]
BrandId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
StrictPositive = Annotated[int, Field(strict=True, ge=1)]
ALL_DAYPARTS: frozenset[tuple[int, int]] = frozenset((d, h) for d in range(7) for h in range(24))
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"^(\d{1,2})(?::00)?-(\d{1,2})(?::00)?$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Creative(_Frozen):
    """A file a campaign plays: its sha256, how long one play lasts, which screens it suits.

    `duration_ms` is a video's length, or for a still image the display time the booker chose.
    """

    sha256: Sha256
    duration_ms: Annotated[int, Field(strict=True, ge=1000, le=HOUR_MS)]
    orientation: CreativeOrientation = "any"

    def fits(self, orientation: str) -> bool:
        return self.orientation == "any" or self.orientation == orientation


def _weekdays(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.lower().split(","):
        part = part.strip()
        if part in ("daily", "all", "every", "everyday"):
            days.extend(range(7))
            continue
        ends = [p.strip()[:3] for p in part.split("-")]
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise ValueError(f"unknown weekday(s) {part!r}: use Mon..Sun, 'Mon-Fri' or 'daily'")
        a, b = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        days.extend((a + i) % 7 for i in range((b - a) % 7 + 1))
    return days


def parse_dayparts(spec: str) -> frozenset[tuple[int, int]]:
    """(weekday, hour) pairs from a spec like "Mon-Fri 07-10 17-20; Sat,Sun 10-22".

    Hour ranges are start-inclusive, end-exclusive (07-10 = 07:00 to 10:00); "22-02" runs past
    midnight into the next day; "daily 00-24" is every hour.
    """
    out: set[tuple[int, int]] = set()
    for segment in spec.split(";"):
        words = segment.split()
        if not words:
            continue
        if len(words) < 2:
            raise ValueError(f"daypart {segment.strip()!r} needs days and hours, like "
                             "'Mon-Fri 07-10'")
        days = _weekdays(words[0])
        for hours in words[1:]:
            m = _HOURS_RE.match(hours)
            if not m:
                raise ValueError(f"hours {hours!r} must look like 07-10")
            start, end = int(m.group(1)), int(m.group(2))
            if start > 23 or end > 24 or start == end:
                raise ValueError(f"hours {hours!r}: start 0..23, end 1..24, not equal")
            span = (end - start) % 24 or 24
            for day in days:
                for i in range(span):
                    hour = start + i
                    out.add(((day + hour // 24) % 7, hour % 24))
    if not out:
        raise ValueError(f"daypart spec {spec!r} names no hour")
    return frozenset(out)


class Campaign(_Frozen):
    """One booking. `priority` 1..10, higher wins an oversold hour; ties go by campaign_id.

    `plays_per_hour` is the share of voice per screen; `frequency_cap_per_day` the most plays
    per screen per local day (spread evenly over the day's daypart hours); `budget_plays` the
    most plays over the whole flight on all screens together, paced evenly over what remains.
    `offer` is the coupon a shopper can claim by tapping the ad (`offer.CouponOffer`; it plays
    no part in scheduling).
    """

    campaign_id: CampaignId
    brand_id: BrandId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    flight_start: date
    flight_end: date
    dayparts: frozenset[tuple[int, int]] = frozenset()
    priority: Annotated[int, Field(strict=True, ge=1, le=10)] = 5
    plays_per_hour: Annotated[int, Field(strict=True, ge=0, le=3600)] = 0
    frequency_cap_per_day: StrictPositive | None = None
    budget_plays: StrictPositive | None = None
    creatives: Annotated[tuple[Creative, ...], Field(min_length=1, max_length=100)]
    rule: Rule = Rule()
    house: bool = False
    offer: CouponOffer | None = None

    _masks: Masks = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _house_hours(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("house") and not data.get("dayparts"):
            return {**data, "dayparts": ALL_DAYPARTS}
        return data

    @field_validator("dayparts", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_dayparts(value)
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(tuple(v) if isinstance(v, list) else v for v in value)
        return value

    @field_validator("dayparts")
    @classmethod
    def _in_range(cls, value: frozenset[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        for weekday, hour in value:
            if not (0 <= weekday <= 6 and 0 <= hour <= 23):
                raise ValueError(f"daypart ({weekday}, {hour}): weekday 0..6 (Monday = 0) "
                                 "and hour 0..23")
        return value

    @model_validator(mode="after")
    def _possible(self) -> Campaign:
        if self.flight_end < self.flight_start:
            raise ValueError(f"flight_end {self.flight_end} is before flight_start "
                             f"{self.flight_start}")
        shas = [c.sha256 for c in self.creatives]
        if len(set(shas)) != len(shas):
            raise ValueError("the same creative is listed twice")
        if self.offer is not None and self.offer.brand_id not in (None, self.brand_id):
            raise ValueError(f"offer: the coupon is of brand {self.offer.brand_id!r}, but a "
                             f"campaign of {self.brand_id!r} can only offer its own brand's")
        if self.house:
            self._check_house()
        else:
            self._check_paid()
        targeted = self.rule.orientations or frozenset({"portrait", "landscape"})
        if not any(c.fits(o) for c in self.creatives for o in targeted):
            raise ValueError(f"no creative suits the targeted orientation(s) {sorted(targeted)}")
        flight_days = (self.flight_end - self.flight_start).days + 1
        weekdays = {(self.flight_start + timedelta(days=i)).weekday()
                    for i in range(min(flight_days, 7))}
        if not any(d in weekdays for d, _ in self.dayparts):
            raise ValueError(f"no daypart falls on a day of the flight {self.flight_start}.."
                             f"{self.flight_end}, so the campaign could never play")
        return self

    def _check_house(self) -> None:
        if self.budget_plays is not None or self.frequency_cap_per_day is not None:
            raise ValueError("a house campaign fills unsold time: it takes no budget_plays "
                             "and no frequency_cap_per_day")
        if self.plays_per_hour:
            raise ValueError("a house campaign fills unsold time: leave plays_per_hour at 0")

    def _check_paid(self) -> None:
        if not self.dayparts:
            raise ValueError("dayparts is empty, so the campaign could never play "
                             "(e.g. 'daily 00-24' books every hour)")
        if self.plays_per_hour < 1:
            raise ValueError("plays_per_hour must be at least 1 for a paid campaign")
        longest = max(c.duration_ms for c in self.creatives)
        if self.plays_per_hour * longest > HOUR_MS:
            raise ValueError(
                f"plays_per_hour {self.plays_per_hour} x {longest / 1000:g} s (longest "
                f"creative) = {self.plays_per_hour * longest / 1000:g} s exceeds the 3600 s hour")
        cap = self.frequency_cap_per_day
        if cap is not None and cap < self.plays_per_hour:
            raise ValueError(
                f"frequency_cap_per_day {cap} is below plays_per_hour {self.plays_per_hour}: "
                "no hour could ever get its share of voice")

    def model_post_init(self, context: Any) -> None:
        self._masks = masks_of(self.dayparts)

    @property
    def daypart_masks(self) -> Masks:
        """Seven 24-bit masks (Monday first) of the booked local hours."""
        return self._masks

    @property
    def first_day(self) -> int:
        return self.flight_start.toordinal()

    @property
    def last_day(self) -> int:
        return self.flight_end.toordinal()

    def creatives_for(self, orientation: str) -> tuple[Creative, ...]:
        return tuple(c for c in self.creatives if c.fits(orientation))

    def fits_orientations(self) -> tuple[str, ...]:
        """Screen orientations this campaign can play on (has a suitable creative)."""
        allowed = self.rule.orientations or frozenset({"portrait", "landscape"})
        return tuple(o for o in ("landscape", "portrait")
                     if o in allowed and any(c.fits(o) for c in self.creatives))

    @property
    def sort_key(self) -> tuple[int, int, str]:
        """Fill order: paid before house, higher priority first, then campaign_id."""
        return (int(self.house), -self.priority, self.campaign_id)


def house_campaign(campaign_id: str, brand_id: str, creatives: list[Creative] | tuple,
                   flight_start: date, flight_end: date, **kw: Any) -> Campaign:
    """Shorthand for a house campaign playing at any hour of its flight."""
    return Campaign(campaign_id=campaign_id, brand_id=brand_id, name=kw.pop("name", campaign_id),
                    flight_start=flight_start, flight_end=flight_end,
                    creatives=tuple(creatives), house=True, **kw)
