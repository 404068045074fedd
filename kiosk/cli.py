"""`kiosk`: run the terminal's device agent (`kiosk agent`) or its touchscreen app with the
agent inside (`kiosk app`, see kiosk/app)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from content.signing import public_key_from_text
from kiosk import credentials
from kiosk.agent.agent import AgentConfig, KioskAgent
from kiosk.agent.store import SqliteAgentStore
from kiosk.app.commands import add_app_commands, run_app_command
from kiosk.checkout.demo_shopper import DemoShopper
from kiosk.checkout.service import TerminalCheckout
from kiosk.face.remote_delete import register_face_deletion_on_disk
from kiosk.fleet.fleet import synthetic_events
from kiosk.logs import setup_logging
from kiosk.player import ContentLibrary
from kiosk.signage import TerminalSignage


async def run_agent(creds_path: Path, data_dir: Path, events_per_s: float,
                    heartbeat_s: float, content_quota_mb: int = 2048,
                    demo_shopper: bool = False) -> int:
    [creds] = credentials.load(creds_path)[:1]
    store = await SqliteAgentStore.open(data_dir / "agent.sqlite")
    agent = KioskAgent(AgentConfig(device_id=creds.device_id, password=creds.password,
                                   host=creds.host, port=creds.port, data_dir=data_dir,
                                   heartbeat_s=heartbeat_s), store)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stop)
    link = asyncio.create_task(agent.run())
    signage = None
    if creds.content_key:  # a terminal without the controller's key plays nothing
        library = ContentLibrary(data_dir / "content", content_quota_mb * 1024 * 1024,
                                 trusted_keys=public_key_from_text(creds.content_key))
        signage = asyncio.create_task(TerminalSignage(agent, library).run())
    # a member's face deletion requested at the controller reaches this terminal's templates
    register_face_deletion_on_disk(agent.commands, data_dir, gallery=None, record=agent.record,
                                   clock_ms=agent.now_ms)
    till = TerminalCheckout(agent)  # orders pushed by the controller; the Kivy UI renders it
    if demo_shopper:
        DemoShopper(till)
    if events_per_s > 0:  # demo and test traffic: synthetic engagement events
        import random

        rng = random.Random()
        while not link.done():
            await agent.record_many(synthetic_events(1, rng))
            await asyncio.sleep(1.0 / events_per_s)
    await link
    await till.aclose()
    if signage is not None:
        signage.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await signage
    await store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    ag = sub.add_parser("agent", help="run the device agent")
    ag.add_argument("--credentials", type=Path, required=True)
    ag.add_argument("--data-dir", type=Path, default=Path("var/kiosk"))
    ag.add_argument("--synthetic-events-per-s", type=float, default=0.0)
    ag.add_argument("--heartbeat-s", type=float, default=30.0)
    ag.add_argument("--content-quota-mb", type=int, default=2048,
                    help="disk the content library may use")
    ag.add_argument("--demo-shopper", action="store_true",
                    help="a simulated shopper pays pushed orders by QR (store demo)")
    ag.add_argument("-v", "--verbose", action="store_true")
    add_app_commands(sub)
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    if args.cmd != "agent":
        return run_app_command(args)
    return asyncio.run(run_agent(args.credentials, args.data_dir, args.synthetic_events_per_s,
                                 args.heartbeat_s, args.content_quota_mb,
                                 args.demo_shopper))


if __name__ == "__main__":
    raise SystemExit(main())
