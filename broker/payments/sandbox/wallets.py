"""The money side of the sandbox: merchant balances, payers' wallets, payment codes issued to
payers and pre-authorised agreement contracts (pure). Money only moves between a payer and a
merchant, so `total_money_fen()` always equals `deposits_fen`."""

from __future__ import annotations

from broker.payments.sandbox import auth_codes
from broker.payments.sandbox.records import DEFAULT_PAYER_ID, BookError, Contract, Merchant, Payer
from broker.payments.wechat_codec import china_day


class Wallets:
    def __init__(self, default_balance_fen: int) -> None:
        self.merchants: dict[str, Merchant] = {}
        self.payers: dict[str, Payer] = {}
        self.contracts: dict[str, Contract] = {}
        self.issued_codes: dict[str, str] = {}  # auth_code → payer_id
        self.deposits_fen = 0
        self._seq = 0
        self.add_payer("Sandbox shopper", default_balance_fen, payer_id=DEFAULT_PAYER_ID)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def add_merchant(self, mchid: str, appid: str, name: str) -> Merchant:
        return self.merchants.setdefault(mchid, Merchant(mchid, appid, name))

    def merchant(self, mchid: str, appid: str | None = None) -> Merchant:
        m = self.merchants.get(mchid)
        if m is None:
            raise BookError("PARAM_ERROR", f"unknown mchid {mchid}")
        if appid is not None and appid != m.appid:
            raise BookError("APPID_MCHID_NOT_MATCH", "appid and mchid do not match")
        return m

    def add_payer(self, name: str, balance_fen: int, payer_id: str | None = None) -> Payer:
        if balance_fen < 0:
            raise BookError("PARAM_ERROR", "balance must not be negative")
        payer_id = payer_id or f"o-sbx-{self._next():06d}"
        if payer_id in self.payers:
            raise BookError("INVALID_REQUEST", f"payer {payer_id} exists")
        self.payers[payer_id] = payer = Payer(payer_id, name, balance_fen)
        self.deposits_fen += balance_fen
        return payer

    def payer(self, payer_id: str) -> Payer:
        if payer_id not in self.payers:
            raise BookError("PARAM_ERROR", f"no sandbox payer {payer_id}")
        return self.payers[payer_id]

    def issue_code(self, payer_id: str, tail: str = "00") -> str:
        """A payment code that debits `payer_id`; `tail` picks the behaviour (auth_codes)."""
        self.payer(payer_id)
        code = auth_codes.make_code(self._next(), tail)
        self.issued_codes[code] = payer_id
        return code

    def sign_contract(self, mchid: str, payer_id: str, now_ms: int, plan_id: str = "") -> Contract:
        self.merchant(mchid)
        self.payer(payer_id)
        contract_id = f"Wx{china_day(now_ms):%Y%m%d}{self._next():012d}"
        self.contracts[contract_id] = c = Contract(contract_id, mchid, payer_id, plan_id, now_ms)
        return c

    def terminate_contract(self, contract_id: str) -> Contract:
        if contract_id not in self.contracts:
            raise BookError("CONTRACT_NOT_EXIST", contract_id)
        self.contracts[contract_id].active = False
        return self.contracts[contract_id]

    def active_contract(self, contract_id: str, mchid: str) -> Contract:
        contract = self.contracts.get(contract_id)
        if contract is None or contract.mchid != mchid or not contract.active:
            raise BookError("CONTRACT_NOT_EXIST", "no active contract with this id")
        return contract

    def move(self, fen: int, mchid: str, payer_id: str, *, to_payer: bool) -> None:
        sign = 1 if to_payer else -1
        self.payers[payer_id].balance_fen += sign * fen
        self.merchants[mchid].balance_fen -= sign * fen

    def total_money_fen(self) -> int:
        return (sum(p.balance_fen for p in self.payers.values())
                + sum(m.balance_fen for m in self.merchants.values()))
