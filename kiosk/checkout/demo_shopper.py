"""A simulated shopper at a demo terminal: pays each pushed order by QR and joins (mostly).

The real shopper taps the Kivy screens (a later release); in the demo this stands in for the
taps, so the whole payment path (terminal flow, controller, sandbox wallet) runs unattended.
The wallet side (scanning the QR) is played by the demo's POS loop.
"""

from __future__ import annotations

import asyncio
import random

from kiosk.checkout.events import ShowMessage
from kiosk.checkout.service import TerminalCheckout
from kiosk.checkout.states import State, screen_name


class DemoShopper:
    def __init__(self, till: TerminalCheckout, rng: random.Random | None = None,
                 join_rate: float = 0.6) -> None:
        self.till = till
        self.rng = rng or random.Random()
        self.join_rate = join_rate
        self._tasks: set[asyncio.Task[object]] = set()
        till.add_listener(self._on_state)

    def _on_state(self, state: State, _messages: list[ShowMessage]) -> None:
        screen = screen_name(state)
        if screen == "OrderShown":
            self._later(self.till.start_payment())
        elif screen == "ChoosingMethod":
            self._later(self.till.choose_method("native"))
        elif screen == "OfferJoin":
            join = self.rng.random() < self.join_rate
            self._later(self.till.tap_join() if join else self.till.decline_join())

    def _later(self, action: object) -> None:
        async def run() -> object:
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))  # a human takes a moment
            return await action  # type: ignore[misc]

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
