"""The coupon an ad offers (`Campaign.offer`): a shopper taps the ad, then claims it.

A claimed coupon is a bearer coupon of the campaign's brand (no member owns it; whoever shows
the code first uses it once), valid in every store of that brand for `valid_days` from the
claim, never past `window_end_ms`; claims are possible only within the window
[`window_start_ms`, `window_end_ms`) when one is given. `max_claims` caps the coupons of the
campaign on all terminals together (None: no cap; each terminal is rate-limited anyway).

The value is `amount_off_fen`, or `percent_off` with its ceiling `max_off_fen` (required: a
coupon anyone can claim needs a bounded cost). `brand_id` may be left out; when given it must
be the campaign's brand (`Campaign` checks it).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Fen = Annotated[int, Field(strict=True, ge=1, le=100_000_000)]  # up to 1,000,000 yuan
Ms = Annotated[int, Field(strict=True, ge=0, le=32_503_680_000_000)]  # up to year 3000


class CouponOffer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    brand_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    amount_off_fen: Fen | None = None
    percent_off: Annotated[int, Field(strict=True, ge=1, le=99)] | None = None
    max_off_fen: Fen | None = None
    min_spend_fen: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)] = 0
    valid_days: Annotated[int, Field(strict=True, ge=1, le=366)] = 30
    window_start_ms: Ms | None = None
    window_end_ms: Ms | None = None
    max_claims: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] | None = None

    @model_validator(mode="after")
    def _value(self) -> CouponOffer:
        if (self.amount_off_fen is None) == (self.percent_off is None):
            raise ValueError("give exactly one of amount_off_fen and percent_off")
        if self.percent_off is not None and self.max_off_fen is None:
            raise ValueError("a percent_off offer needs max_off_fen (the most it takes off)")
        if self.amount_off_fen is not None and self.max_off_fen is not None:
            raise ValueError("max_off_fen is only for a percent_off offer")
        if (self.window_start_ms is not None and self.window_end_ms is not None
                and self.window_end_ms <= self.window_start_ms):
            raise ValueError("window_end_ms must be after window_start_ms")
        return self
