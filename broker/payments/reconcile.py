"""Daily reconciliation: our attempts against the provider's records of the day (pure).

Every attempt that is paid here must be paid there with the same amount, and every trade the
provider has as paid must be an attempt paid here; refunds must agree. Each disagreement is a
line of the report with its kind:

- `missing_at_provider`: paid here, the provider does not have it as paid
- `unrecorded_payment`: paid at the provider, not paid here (money we did not book)
- `amount_mismatch`: both paid, different amounts
- `refund_mismatch`: refunded amounts differ
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from broker.payments.provider import BillRow


@dataclass(frozen=True, slots=True)
class OurTrade:
    out_trade_no: str
    order_id: str
    paid: bool
    amount_fen: int
    refunded_fen: int = 0


@dataclass(frozen=True, slots=True)
class Discrepancy:
    kind: str
    out_trade_no: str
    ours: str
    theirs: str


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    day: str
    source: str  # "bill" | "query"
    ours_paid: int
    ours_paid_fen: int
    theirs_paid: int
    theirs_paid_fen: int
    matched: int
    discrepancies: tuple[Discrepancy, ...] = field(default_factory=tuple)

    @property
    def balanced(self) -> bool:
        return not self.discrepancies

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["balanced"] = self.balanced
        return out


def reconcile(day: str, ours: Iterable[OurTrade], theirs: Iterable[BillRow], *,
              source: str = "bill") -> ReconciliationReport:
    mine: Mapping[str, OurTrade] = {t.out_trade_no: t for t in ours}
    bill: Mapping[str, BillRow] = {r.out_trade_no: r for r in theirs}
    found: list[Discrepancy] = []
    matched = 0
    for no in sorted(set(mine) | set(bill)):
        o, b = mine.get(no), bill.get(no)
        ours_paid = o is not None and o.paid
        theirs_paid = b is not None and b.state.paid
        if ours_paid and not theirs_paid:
            found.append(Discrepancy("missing_at_provider", no, _show(o),
                                     b.state.value if b else "absent"))
        elif theirs_paid and not ours_paid:
            assert b is not None
            found.append(Discrepancy("unrecorded_payment", no, _show(o),
                                     f"{b.state.value} {b.amount_fen}"))
        elif ours_paid and theirs_paid:
            assert o is not None and b is not None
            if o.amount_fen != b.amount_fen:
                found.append(Discrepancy("amount_mismatch", no, str(o.amount_fen),
                                         str(b.amount_fen)))
            elif o.refunded_fen != b.refunded_fen:
                found.append(Discrepancy("refund_mismatch", no, str(o.refunded_fen),
                                         str(b.refunded_fen)))
            else:
                matched += 1
    paid_ours = [t for t in mine.values() if t.paid]
    paid_theirs = [r for r in bill.values() if r.state.paid]
    return ReconciliationReport(
        day=day, source=source, ours_paid=len(paid_ours),
        ours_paid_fen=sum(t.amount_fen for t in paid_ours), theirs_paid=len(paid_theirs),
        theirs_paid_fen=sum(r.amount_fen for r in paid_theirs), matched=matched,
        discrepancies=tuple(found))


def _show(t: OurTrade | None) -> str:
    return "absent" if t is None else ("paid" if t.paid else "unpaid") + f" {t.amount_fen}"
