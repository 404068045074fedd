"""Member prices on the order screen: each item's member price under it, what a member would
pay while the shopper is not known as one, and the member prices as a saving once applied."""

from __future__ import annotations

import pytest
from app_harness import SHOTS, not_blank, ui
from app_states import state

from kiosk.app.i18n import money, tr
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.screens import view_for
from kiosk.app.services import Services


def test_a_non_member_sees_the_member_prices_and_the_member_total() -> None:
    flow_state, message, _now = state("order_member_prices")
    view = view_for(flow_state, "en", message)
    assert view is not None
    rows = dict(view.rows)
    assert rows[tr("member_price_line", "en", price=money(590))] == money(2 * 590)
    assert rows[tr("member_price_line", "en", price=money(1680))] == money(1680)
    assert len(view.rows) == 5  # three items, two with a member price
    totals = dict(view.totals)
    assert totals[tr("total", "en")] == money(4470)
    assert totals[tr("member_total", "en")] == money(4150)
    assert tr("member_save", "en", amount=money(320)) in totals
    assert f"{money(4470)}" in " ".join(line.text for line in view.lines)  # pays the regular


def test_a_member_sees_the_member_prices_applied() -> None:
    flow_state, message, _now = state("order_member_applied")
    view = view_for(flow_state, "zh", message)
    assert view is not None
    totals = dict(view.totals)
    assert totals[tr("member_prices_applied", "zh")] == money(-320)
    assert tr("member_total", "zh") not in totals and tr("savings", "zh") not in totals
    assert f"{money(4150)}" in " ".join(line.text for line in view.lines)


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_member_prices_fit_every_profile(profile_name: str) -> None:
    flow_state, message, now = state("order_member_prices")
    root = KioskRoot(Services(now_ms=lambda: now), PROFILES[profile_name])
    root.on_checkout(flow_state, [message] if message else [])
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.settle(2)
    _path, pixels = u.screenshot(f"order-member-prices-{profile_name}", SHOTS / "screens")
    assert not_blank(pixels) and u.problems() == []
    assert u.has_text(tr("member_total", "zh")) and u.has_text(money(4150))
