"""`python -m broker.payments.sandbox --port 8090 --keys-dir DIR`: the sandbox, standalone.

Keys are generated into DIR on first start and reused afterwards; the client side (the WeChat
adapter) reads the same directory (`broker.payments.sandbox.keys.load`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from broker.payments.sandbox.app import SandboxConfig
from broker.payments.sandbox.keys import DEFAULT_MCHID, load_or_create
from broker.payments.sandbox.server import SandboxServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m broker.payments.sandbox",
                                description="A local WeChat Pay v3 sandbox")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--keys-dir", type=Path, required=True,
                   help="where the sandbox and merchant keys live (created when missing)")
    p.add_argument("--mchid", action="append", default=None,
                   help=f"a merchant id to serve (repeatable; default {DEFAULT_MCHID})")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    p.add_argument("--refund-delay-ms", type=int, default=1000)
    p.add_argument("--notify-retry-ms", type=int, nargs="*", default=None,
                   help="notification retry delays (default: WeChat's 24 h schedule)")
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    keys = load_or_create(args.keys_dir, args.mchid or [DEFAULT_MCHID])
    config = SandboxConfig(refund_delay_ms=args.refund_delay_ms, seed=args.seed,
                           **({"notify_retry_delays_ms": tuple(args.notify_retry_ms)}
                              if args.notify_retry_ms is not None else {}))
    server = SandboxServer(keys, host=args.host, port=args.port, config=config,
                           log_level=args.log_level)
    await server.start()
    print(f"WeChat Pay v3 sandbox on {server.base_url} (keys in {args.keys_dir})")
    print(f"  platform public key id {keys.public_key_id}")
    for m in keys.merchants:
        print(f"  merchant {m.mchid} appid {m.appid} serial {m.serial_no}")
    print(f"  wallet page {server.base_url}/wallet, admin API {server.base_url}/sandbox/…")
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
