"""The controller's checkout: provider (sandbox, WeChat Pay, Alipay), payments runtime and the
member services, built from settings (loop-bound).

With `provider = "sandbox"` the controller runs the local WeChat Pay v3 sandbox in its own
event loop (keys kept in `data_dir/sandbox-keys`) and talks to it through the real WeChat
adapter, exactly as it would to WeChat Pay; switching to a real provider is configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import storage
from broker.members.api import member_handlers
from broker.members.context import MemberContext
from broker.members.desk import MemberDesk
from broker.members.ereceipt_desk import EReceipts
from broker.members.jobs import LoyaltyJobs
from broker.members.member_prices import apply_member_prices
from broker.members.programme import Programme
from broker.members.settlement import Settlement
from broker.members.wallets import MemberWallets
from broker.payments import lifecycle as lc
from broker.payments.checkout_api import CheckoutApi
from broker.payments.face_policy import FacePolicy
from broker.payments.provider import PaymentProvider
from broker.payments.runtime import PaymentsRuntime, Push
from broker.payments.service import CheckoutConfig
from broker.settings import PaymentsSection
from broker.storage.payments_records import OrderRecord
from content.signing import load_or_create_private_key

log = logging.getLogger(__name__)

RECEIPT_KEY_ID = "k1"


@dataclass
class CheckoutStack:
    runtime: PaymentsRuntime
    api: CheckoutApi
    desk: MemberDesk
    settlement: Settlement
    wallets: MemberWallets
    ctx: MemberContext
    receipt_key: Ed25519PrivateKey
    sandbox: Any = None  # broker.payments.sandbox.server.SandboxServer when provider=sandbox
    jobs: LoyaltyJobs | None = None  # the daily loyalty jobs (tiers, expiry, birthdays)
    ereceipts: EReceipts | None = None  # receipt.link and the e-receipt page (/r/<token>)

    async def stop(self) -> None:
        if self.jobs is not None:
            await self.jobs.stop()
        await self.runtime.stop()
        if self.sandbox is not None:
            await self.sandbox.stop()

    def set_notify_base(self, base_url: str) -> None:
        """Where providers post notifications and e-receipt links point (known once the HTTP
        server listens)."""
        if self.ereceipts is not None:
            self.ereceipts.base_url = base_url
        set_url = getattr(self.runtime.provider, "set_notify_url", None)
        if set_url is not None:
            set_url(f"{base_url.rstrip('/')}/pay/notify/{self.runtime.provider.name}")


async def build_provider(cfg: PaymentsSection, data_dir: Path,
                         notify_url: str) -> tuple[PaymentProvider, Any, str]:
    """(provider, sandbox server or None, the payers' app id)."""
    if cfg.provider == "sandbox":
        from broker.payments.sandbox import keys as sandbox_keys
        from broker.payments.sandbox.server import SandboxServer
        from broker.payments.wechat import sandbox_provider

        if cfg.sandbox_url:
            if cfg.sandbox_keys_dir is None:
                raise ValueError("payments.sandbox_url needs payments.sandbox_keys_dir")
            keys, server = sandbox_keys.load(cfg.sandbox_keys_dir), None
            base_url = cfg.sandbox_url
        else:
            keys = sandbox_keys.load_or_create(data_dir / "sandbox-keys")
            server = SandboxServer(keys, port=cfg.sandbox_port)
            await server.start()
            base_url = server.base_url
        provider = sandbox_provider(keys, base_url, notify_url, timeout_s=cfg.provider_timeout_s)
        await provider.start()
        return provider, server, keys.primary.appid
    if cfg.provider == "wechat":
        from broker.payments.wechat import WechatPayProvider, WechatPaySettings

        if not (cfg.wechat_private_key and cfg.wechat_public_key):
            raise ValueError("payments.provider = wechat needs wechat_private_key and "
                             "wechat_public_key (paths) and the merchant ids")
        settings = WechatPaySettings(
            mchid=cfg.wechat_mchid, appid=cfg.wechat_appid,
            merchant_private_key=cfg.wechat_private_key.read_text(),
            cert_serial_no=cfg.wechat_cert_serial_no, apiv3_key=cfg.wechat_apiv3_key,
            platform_public_key=cfg.wechat_public_key.read_text(),
            public_key_id=cfg.wechat_public_key_id, notify_url=notify_url,
            timeout_s=cfg.provider_timeout_s,
            **({"base_url": cfg.wechat_base_url} if cfg.wechat_base_url else {}))
        wx = WechatPayProvider(settings)
        await wx.start()
        return wx, None, cfg.wechat_appid
    if cfg.provider == "alipay":
        from broker.payments.alipay import AlipayProvider, AlipaySettings

        if not (cfg.alipay_private_key and cfg.alipay_public_key):
            raise ValueError("payments.provider = alipay needs alipay_private_key and "
                             "alipay_public_key (paths) and alipay_app_id")
        ali = AlipayProvider(AlipaySettings(
            app_id=cfg.alipay_app_id, app_private_key=cfg.alipay_private_key.read_text(),
            alipay_public_key=cfg.alipay_public_key.read_text(), notify_url=notify_url,
            timeout_s=cfg.provider_timeout_s,
            **({"gateway": cfg.alipay_gateway} if cfg.alipay_gateway else {})))
        return ali, None, cfg.alipay_app_id
    raise ValueError(f"no payment provider {cfg.provider!r}")


async def start_checkout(db: storage.Database, cfg: PaymentsSection, data_dir: Path, *,
                         public_url: str, push: Push,
                         store_of: Callable[[str], Awaitable[str]],
                         programmes: dict[str, Programme] | None = None,
                         timings: lc.Timings | None = None) -> CheckoutStack:
    provider, sandbox, app_id = await build_provider(cfg, data_dir, "http://unset.invalid/")
    ctx = MemberContext(db, provider.name, app_id, dict(programmes or {}))
    settlement = Settlement(ctx)
    wallets = MemberWallets(ctx)
    config = CheckoutConfig(order_ttl_s=cfg.order_ttl_s, qr_ttl_s=cfg.qr_ttl_s,
                            face=FacePolicy(second_factor_above_fen=
                                            cfg.face_second_factor_above_fen))
    receipt_key = load_or_create_private_key(data_dir / "receipt-signing.pem")
    desk_holder: list[MemberDesk] = []

    async def closed(order: Any) -> None:
        if desk_holder:
            await desk_holder[0].release_discounts(order)

    async def member_prices(order: OrderRecord, member_id: str) -> OrderRecord:
        return await apply_member_prices(db, order, member_id, now_ms=ctx.now_ms())

    runtime = PaymentsRuntime(db, provider, push=push, settle=settlement.settle,
                              on_refund=settlement.on_refund, on_closed=closed,
                              member_prices=member_prices,
                              wallets=wallets, timings=timings, config=config,
                              sweep_s=cfg.sweep_s)
    desk = MemberDesk(ctx, settlement,
                      receipt_keys={RECEIPT_KEY_ID: receipt_key.public_key()})
    desk_holder.append(desk)
    ereceipts = EReceipts(db, receipt_key, base_url=public_url, now_ms=ctx.now_ms)
    api = CheckoutApi(runtime.service, store_of=store_of,
                      extra=member_handlers(desk, ereceipts), latency=runtime.latency)
    stack = CheckoutStack(runtime, api, desk, settlement, wallets, ctx, receipt_key, sandbox,
                          ereceipts=ereceipts)
    stack.set_notify_base(public_url)
    await runtime.start()
    stack.jobs = LoyaltyJobs(ctx).start()
    return stack
