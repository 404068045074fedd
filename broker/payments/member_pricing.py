"""Member prices (pure): what an order's items cost a member of its brand, and the saving.

An item may carry `member_unit_fen` (0 < member_unit_fen <= unit_fen) beside its `unit_fen`: a
member of the order's brand pays the member price of each item that has one and the regular
price of the others. The saving goes onto the order as part of its discount (`discount_fen`),
so `payable_fen = amount_fen - discount_fen` holds whether or not a member is paying; like
every discount it leaves at least 1 fen to pay. All amounts are integer fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemberTotals:
    regular_fen: int  # sum of qty x unit_fen (the order's amount_fen)
    member_fen: int  # sum of qty x member_unit_fen where set, else qty x unit_fen

    @property
    def saving_fen(self) -> int:
        return self.regular_fen - self.member_fen


def _int(item: Mapping[str, object], key: str) -> int:
    value = item[key]
    if type(value) is not int:
        raise ValueError(f"item {item.get('sku')!r}: {key} must be an integer, got {value!r}")
    return value


def member_unit(item: Mapping[str, object]) -> int:
    """What one unit of the item costs a member (its member price, else its price)."""
    unit = _int(item, "unit_fen")
    if item.get("member_unit_fen") is None:
        return unit
    member = _int(item, "member_unit_fen")
    if not 0 < member <= unit:
        raise ValueError(f"item {item.get('sku')!r}: member_unit_fen {member} must be "
                         f"1..unit_fen ({unit})")
    return member


def totals(items: Iterable[Mapping[str, object]]) -> MemberTotals:
    regular = member = 0
    for item in items:
        qty = _int(item, "qty")
        regular += qty * _int(item, "unit_fen")
        member += qty * member_unit(item)
    return MemberTotals(regular, member)


def member_discount(saving_fen: int, payable_fen: int) -> int:
    """The part of `saving_fen` an order that still has `payable_fen` to pay can take (at
    least 1 fen stays to pay, as with every discount)."""
    return max(0, min(saving_fen, payable_fen - 1))


def member_payable(payable_fen: int, saving_fen: int, applied_fen: int) -> int:
    """What a member would pay for an order now at `payable_fen` of which `applied_fen` of
    the member saving is already taken off."""
    return payable_fen - member_discount(saving_fen - applied_fen, payable_fen)
