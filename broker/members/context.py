"""What the member services share: the database, programmes, the payer identity rules."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from broker import storage
from broker.members.programme import Programme, default_programme
from broker.storage import members as member_db
from broker.storage.loyalty_records import MemberRecord, WalletIdentity
from broker.storage.payments_records import OrderRecord

MEMBER_PAYER_PREFIX = "member:"  # stored-value payments name the member as the payer


@dataclass
class MemberContext:
    db: storage.Database
    provider: str  # the payment provider's name ("sandbox", "wechat", "alipay")
    app_id: str  # the app the payers' ids belong to (openids are per app)
    programmes: dict[str, Programme] = field(default_factory=dict)
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def programme(self, brand_id: str) -> Programme:
        found = self.programmes.get(brand_id)
        if found is None:
            found = self.programmes[brand_id] = default_programme(brand_id)
        return found

    def identity(self, order: OrderRecord) -> WalletIdentity | None:
        """The wallet that paid the order (None: not a wallet payment, or not paid yet)."""
        if not order.payer or order.payer.startswith(MEMBER_PAYER_PREFIX):
            return None
        return WalletIdentity(self.provider, self.app_id, order.payer)

    def credential_hash(self, order: OrderRecord) -> str | None:
        if not order.payer:
            return None
        return hashlib.sha256(f"{self.provider}:{self.app_id}:{order.payer}".encode()).hexdigest()

    async def member_of(self, order: OrderRecord) -> MemberRecord | None:
        """The member who paid: named on the order, paid from stored value, or a known wallet."""
        member_id = order.member_id
        if member_id is None and order.payer and order.payer.startswith(MEMBER_PAYER_PREFIX):
            member_id = order.payer[len(MEMBER_PAYER_PREFIX):]
        if member_id is not None:
            return await member_db.get_member(self.db, member_id)
        identity = self.identity(order)
        return None if identity is None else await member_db.member_for_wallet(self.db,
                                                                                identity)
