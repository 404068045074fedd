"""Validation of new orders (POS API, attended keypad) and of pay requests (pure)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from broker.storage.payments_records import MAX_ORDER_FEN

Fen = Annotated[int, Field(ge=1, le=MAX_ORDER_FEN, strict=True)]
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{8,128}$")]
Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    qty: Annotated[int, Field(ge=1, le=10_000, strict=True)]
    unit_fen: Fen
    category: Annotated[str, Field(max_length=40)] = ""
    # the price for members of the order's brand (docs/checkout.md, "Member prices")
    member_unit_fen: Fen | None = None

    @model_validator(mode="after")
    def _member_price(self) -> OrderItem:
        if self.member_unit_fen is not None and self.member_unit_fen > self.unit_fen:
            raise ValueError(f"item {self.sku!r}: member_unit_fen {self.member_unit_fen} is "
                             f"above its unit_fen {self.unit_fen}")
        return self

    @model_serializer(mode="wrap")
    def _without_unset_member_price(self, handler: SerializerFunctionWrapHandler) -> Any:
        # an item without a member price is stored (and digested) as before the field existed
        data = handler(self)
        if isinstance(data, dict) and data.get("member_unit_fen") is None:
            data.pop("member_unit_fen", None)
        return data


class NewOrder(BaseModel):
    """An order as the store's POS sends it; `amount_fen`, when given, must match the items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_id: Ident
    device_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,62}$")]
    brand_id: Ident
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=200)]
    amount_fen: Fen | None = None
    idempotency_key: Key
    description: Annotated[str, Field(max_length=120)] = ""

    @model_validator(mode="after")
    def _total(self) -> NewOrder:
        total = sum(i.qty * i.unit_fen for i in self.items)
        if total > MAX_ORDER_FEN:
            raise ValueError(f"order total {total} fen is above the limit")
        if self.amount_fen is not None and self.amount_fen != total:
            raise ValueError(f"amount_fen {self.amount_fen} is not the items' total {total}")
        return self

    @property
    def total_fen(self) -> int:
        return sum(i.qty * i.unit_fen for i in self.items)

    def digest(self) -> str:
        """What identifies the request's content (a reused key must carry the same order)."""
        body = self.model_dump_json(exclude={"idempotency_key"})
        return hashlib.sha256(body.encode()).hexdigest()


class KeypadOrder(BaseModel):
    """An amount keyed in by the cashier on the terminal (attended mode)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_fen: Fen
    brand_id: Ident
    note: Annotated[str, Field(max_length=120)] = ""


class FaceMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    member_id: Annotated[str, Field(min_length=3, max_length=40)]
    distance: Annotated[float, Field(ge=0, le=2)]
    margin: Annotated[float, Field(ge=0, le=2)]  # runner-up distance minus best distance
    gallery_size: Annotated[int, Field(ge=1)] = 1


class PayParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: Annotated[str, Field(pattern=r"^o[a-z2-7]{12}$")]
    method: Literal["native", "code", "face"]
    auth_code: Annotated[str, Field(pattern=r"^[0-9]{16,24}$")] | None = None
    face: FaceMatch | None = None
    phone_last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None

    @model_validator(mode="after")
    def _method_fields(self) -> PayParams:
        if self.method == "code" and self.auth_code is None:
            raise ValueError("method 'code' needs auth_code")
        if self.method == "face" and self.face is None:
            raise ValueError("method 'face' needs face")
        return self
