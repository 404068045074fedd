"""Face pay's money sources: the member's stored value and pre-authorised wallet agreements."""

from __future__ import annotations

from sqlalchemy import select

from broker.members.context import MemberContext
from broker.storage import members as member_db
from broker.storage import stored_value as sv_db
from broker.storage._sql import upsert
from broker.storage.loyalty_errors import InsufficientBalanceError
from broker.storage.loyalty_records import StoredValueEntry, last4_matches
from broker.storage.payments_schema import wallet_agreements


class MemberWallets:
    """Implements `broker.payments.service.FaceWallets` on the member tables."""

    def __init__(self, ctx: MemberContext) -> None:
        self.ctx = ctx

    async def phone_last4_matches(self, member_id: str, last4: str) -> bool:
        member = await member_db.get_member(self.ctx.db, member_id)
        return member is not None and last4_matches(member, last4)

    async def stored_value_balance(self, member_id: str) -> int:
        return await sv_db.stored_value_balance(self.ctx.db, member_id)

    async def debit_stored_value(self, member_id: str, amount_fen: int, ref: str) -> bool:
        try:
            await sv_db.post_stored_value(self.ctx.db, StoredValueEntry(
                member_id=member_id, delta=-amount_fen, kind="payment", ref=ref,
                created_ms=self.ctx.now_ms()))
        except InsufficientBalanceError:
            return False
        return True

    async def agreement(self, member_id: str, provider: str) -> str | None:
        async with self.ctx.db.read() as conn:
            row = (await conn.execute(select(wallet_agreements.c.contract_id).where(
                wallet_agreements.c.member_id == member_id,
                wallet_agreements.c.provider == provider))).first()
        return None if row is None else str(row[0])

    async def set_agreement(self, member_id: str, provider: str, contract_id: str) -> None:
        db = self.ctx.db
        async with db.write() as conn:
            await conn.execute(upsert(db.dialect, wallet_agreements, {
                "member_id": member_id, "provider": provider, "contract_id": contract_id,
                "created_ms": self.ctx.now_ms()}, keep=("created_ms",)))
