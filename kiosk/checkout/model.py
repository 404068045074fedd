"""What the checkout flow reads from the controller (docs/checkout.md), parsed leniently.

Pure: no I/O. Results and pushed commands arrive as JSON objects; `parse` turns one into a
frozen model or None when it is malformed (the flow then treats the answer as unreadable,
never crashes). Unknown fields are ignored so that the controller can add fields.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

Fen = Annotated[int, Field(ge=0, strict=True)]
Ms = Annotated[int, Field(ge=0, strict=True)]
OrderState = Literal["open", "paying", "paid", "closed", "refunded"]
AttemptState = Literal["pending", "waiting", "paid", "failed", "closed", "reversed"]

LIVE_ATTEMPT = frozenset({"pending", "waiting"})
FAILED_ATTEMPT = frozenset({"failed", "closed", "reversed"})
# Use with fullmatch (`$` would let a trailing newline through).
AUTH_CODE_RE = re.compile(r"[0-9]{16,24}")  # WeChat 18 digits, Alipay 16-24
LAST4_RE = re.compile(r"[0-9]{4}")
_KEY_PART_RE = re.compile(r"^[A-Za-z0-9_.-]{4,80}$")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Item(_Wire):
    sku: str
    name: str = ""
    qty: Annotated[int, Field(ge=0, strict=True)] = 1
    unit_fen: Fen = 0
    category: str = ""
    member_unit_fen: Fen | None = None  # the price for members of the brand, when set


class Order(_Wire):
    order_id: Annotated[str, Field(min_length=1, max_length=128)]
    store_id: str | None = None
    device_id: str | None = None
    brand_id: str | None = None
    items: tuple[Item, ...] = ()
    amount_fen: Fen
    discount_fen: Fen = 0
    payable_fen: Fen
    # member prices (docs/checkout.md): the items' total for members, what a member of the
    # brand saves on it, the part of discount_fen that is that saving (0: not applied yet)
    # and what a member would pay now; None / 0 from a controller without member prices
    member_amount_fen: Fen | None = None
    member_saving_fen: Fen = 0
    member_discount_fen: Fen = 0
    member_payable_fen: Fen | None = None
    state: OrderState
    member_id: str | None = None
    points_used: Annotated[int, Field(ge=0, strict=True)] = 0
    coupon_code: str | None = None
    created_ms: Ms = 0
    expires_ms: Ms = 0  # 0: no expiry given

    def live(self, now_ms: int) -> bool:
        """Open for payment and not past its expiry (as far as this terminal's clock says)."""
        return self.state == "open" and (self.expires_ms == 0 or self.expires_ms > now_ms)


class Attempt(_Wire):
    out_trade_no: Annotated[str, Field(min_length=1, max_length=64)]
    method: str = ""
    state: AttemptState
    code_url: str | None = None
    expires_ms: Ms = 0
    error: str | None = None


class Profile(_Wire):
    display_name: str = ""
    masked_phone: str = ""
    brands: tuple[str, ...] = ()


class Offer(_Wire):
    eligible: bool
    brand_id: str | None = None
    points: Annotated[int, Field(ge=0, strict=True)] = 0
    profile: Profile | None = None


class JoinResult(_Wire):
    member_id: str
    brand_id: str | None = None
    points_credited: Annotated[int, Field(ge=0, strict=True)] = 0
    balance: Annotated[int, Field(ge=0, strict=True)] = 0
    coupon: dict[str, JsonValue] | None = None


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """What the camera pipeline found: the best member, its distance and the margin over the
    runner-up (the controller decides whether a second factor is needed)."""

    member_id: str
    distance: float
    margin: float
    gallery_size: int = 1

    def params(self) -> dict[str, Any]:
        return {"member_id": self.member_id, "distance": self.distance, "margin": self.margin,
                "gallery_size": self.gallery_size}


M = TypeVar("M", bound=_Wire)


def parse(model: type[M], data: object) -> M | None:
    if not isinstance(data, Mapping):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def parse_result(result: Mapping[str, Any] | None) -> tuple[Order | None, Attempt | None]:
    """`{order, attempt}` of checkout.pay / status / cancel; either may be missing."""
    if result is None:
        return None, None
    return parse(Order, result.get("order")), parse(Attempt, result.get("attempt"))


def call_key(order_id: str, step: str, n: int) -> str:
    """The idempotency key of call number `n` of `step` for an order: the same inputs give the
    same key, so a retry after a lost response is recognised by the controller. Order ids that
    do not fit the key alphabet are replaced by a hash of them."""
    part = order_id if _KEY_PART_RE.match(order_id) else (
        "h" + hashlib.sha256(order_id.encode()).hexdigest()[:32])
    return f"{part}:{step}:{n}"
