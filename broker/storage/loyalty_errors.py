"""Errors of the loyalty storage (members, points, stored value, coupons, receipts).

All derive from `StorageError`; "not found" cases raise the shared `NotFoundError` and a second
claim of a receipt raises `AlreadyClaimedError`, an `AlreadyExistsError`.
"""

from __future__ import annotations

from broker.storage.errors import AlreadyExistsError, StorageError


class InsufficientBalanceError(StorageError):
    """A debit (points redeem/expire/adjust, stored-value payment) larger than the balance.

    Nothing was written. `available` is the balance the debit was checked against.
    """

    def __init__(self, what: str, requested: int, available: int) -> None:
        super().__init__(f"{what}: {requested} requested, only {available} available")
        self.requested = requested
        self.available = available


class LedgerConflictError(StorageError):
    """An exactly-once key (kind, ref) is taken by an entry that differs from the request.

    A repeat of the same request returns the stored entry instead; this error means the
    caller reused a ref for something else (another member or amount, or a redeem that was
    returned already: redeem again under a new ref).
    """


class AlreadyClaimedError(AlreadyExistsError):
    """The receipt (its token, or its store's order) was claimed already; nothing credited."""

    def __init__(self, token_id: str, claimed_by: str, claimed_ms: int) -> None:
        super().__init__(f"receipt {token_id!r} was claimed already (at {claimed_ms})")
        self.token_id = token_id
        self.claimed_by = claimed_by
        self.claimed_ms = claimed_ms


# the names of `broker.loyalty.coupons.RefusalReason`, and 'void'
COUPON_REFUSALS: tuple[str, ...] = (
    "already_used",  # redeemed by another order
    "void",
    "not_yet_valid",
    "expired",
    "wrong_brand",
    "wrong_store",
    "not_owner",
    "below_min_spend",
)


class CouponUnavailableError(StorageError):
    """The coupon exists but cannot be redeemed for this order; `reason` is in COUPON_REFUSALS."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"coupon {code!r} cannot be used: {reason}")
        self.code = code
        self.reason = reason
