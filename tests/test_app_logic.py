"""The app's pure logic, without Kivy: the zh/en strings, checkout state → screen, the app's
own pages, the shell (idle, offline, corner), the technician PIN, the watchdog protocol."""

from __future__ import annotations

import re

import pytest
from app_states import QR_URL, STATES, state
from hypothesis import given
from hypothesis import strategies as st

from kiosk.app.fonts import has_cjk
from kiosk.app.i18n import STRINGS, coupon_title, money, tr
from kiosk.app.pages import APP_ACTIONS, offer_view, pin_view, technician_view, wallet_view
from kiosk.app.pin import PinGate, hash_pin, verify_pin
from kiosk.app.screens import ACTIONS, view_for
from kiosk.app.shell import CornerTaps, IdleTimer, OfflineNotice, Shell, screen_for
from kiosk.app.watchdog import ping_interval_s, socket_address
from kiosk.checkout.service import TerminalCheckout
from kiosk.checkout.states import Idle

# ---- strings ----------------------------------------------------------------------------------

def test_every_string_exists_in_both_languages_with_the_same_placeholders() -> None:
    for key, (zh, en) in STRINGS.items():
        assert zh and en, key
        assert sorted(re.findall(r"{(\w+)}", zh)) == sorted(re.findall(r"{(\w+)}", en)), key
        if key not in ("lang_toggle", "item_line"):  # "English", "{name} × {qty}"
            assert has_cjk(zh), key
        if key != "lang_toggle":
            assert not has_cjk(en), key
    assert tr("lang_toggle", "zh") == "English" and tr("lang_toggle", "en") == "中文"
    assert tr("no-such-key", "en") == "no-such-key"


@given(st.integers(-10**9, 10**9))
def test_money_is_yuan_with_two_decimals(fen: int) -> None:
    text = money(fen)
    assert re.fullmatch(r"-?¥[\d,]+\.\d\d", text)
    assert round(float(text.replace("¥", "").replace(",", "")) * 100) == fen


def test_coupon_titles() -> None:
    assert coupon_title({"amount_off_fen": 500, "min_spend_fen": 3000}, "en") == (
        "¥5.00 off on ¥30.00 or more")
    assert coupon_title({"percent_off": 10}, "zh") == "10% 折扣"


# ---- checkout state -> screen ---------------------------------------------------------------

@pytest.mark.parametrize("name", list(STATES))
def test_every_checkout_state_has_a_screen_in_both_languages(name: str) -> None:
    flow_state, message, _now = state(name)
    zh, en = view_for(flow_state, "zh", message), view_for(flow_state, "en", message)
    assert zh is not None and en is not None
    assert zh.screen == en.screen and zh.title and en.title != zh.title
    assert has_cjk(zh.title) and not has_cjk(en.title)
    for action in en.actions:
        assert action.id in ACTIONS or action.id in APP_ACTIONS, action.id
    if en.qr:
        assert en.qr == QR_URL
    if en.screen == "checking":  # waiting never lies: no result, no way to pay again
        assert en.waiting
        assert not {a.id for a in en.actions} & {"pay", "method:native", "method:code",
                                                 "method:face"}
        assert en.title not in (tr("paid_title", "en"), tr("failed_title", "en"))


def test_waiting_screens_say_checking_while_the_outcome_is_unknown() -> None:
    view = view_for(state("paying_unknown")[0], "en")
    assert view is not None and view.title == "Checking the payment…"
    assert "Please don't pay again." in view.lines[0].text
    closing = view_for(state("closing")[0], "en")
    assert closing is not None and closing.waiting and closing.actions == ()


def test_the_order_screen_shows_items_savings_and_points_as_cash() -> None:
    view = view_for(state("order_member")[0], "en")
    assert view is not None
    assert view.rows[0][0] == "Organic whole milk 1 L × 2"
    assert [a.id for a in view.actions] == ["pay", "use_points", "cancel"]
    used = view_for(state("order_points_used")[0], "en")
    assert used is not None and ("Member savings", "-¥10.00") in used.totals
    assert "use_points" not in [a.id for a in used.actions]
    assert view_for(Idle(), "en") is None


def test_every_action_is_a_checkout_coroutine() -> None:
    for name, _args in ACTIONS.values():
        assert callable(getattr(TerminalCheckout, name))


def test_app_pages() -> None:
    assert offer_view({"campaign_id": "freshmart"}, "en").lines[-1].text == (
        "Campaign: Freshmart")
    assert wallet_view([], "en").qr is None
    assert wallet_view([{"code": "ABC", "amount_off_fen": 500}], "zh").qr == "ABC"
    assert pin_view("en", "Wrong PIN, 4 tries left").lines[0].tone == "error"
    tech = technician_view({"device": "till-9"}, ["PASS content"], "en")
    assert tech.lines[0].text == "Device till-9" and tech.detail == ("PASS content",)
    assert [a.id for a in tech.actions] == ["self_test", "logs", "exit", "overlay_back"]


# ---- shell --------------------------------------------------------------------------------

def test_which_screen_is_up() -> None:
    assert screen_for(Shell(), "Idle") == "attract"
    assert screen_for(Shell().open("offer", {}), "Idle") == "offer"
    assert screen_for(Shell().open("offer", {}), "OrderShown") == "checkout"
    assert screen_for(Shell().open("wallet"), "Joined") == "wallet"
    assert screen_for(Shell().open("technician"), "OrderShown") == "technician"
    shopper = Shell().toggle_lang().toggle_large_text().add_coupon({"code": "A"}).open("wallet")
    assert shopper.next_shopper() == Shell()
    assert Shell().open("tech_pin").next_shopper().overlay == "tech_pin"
    assert Shell().add_coupon({"code": "A"}).add_coupon({"code": "A"}).coupons == ({"code": "A"},)


def test_idle_offline_and_corner_timers() -> None:
    idle = IdleTimer(60, 0)
    idle.touch(100)
    assert not idle.expired(159) and idle.expired(160)
    notice = OfflineNotice(grace_s=10)
    assert not notice.update(False, 0) and not notice.update(False, 9.9)
    assert notice.update(False, 10)
    assert not notice.update(True, 11) and not notice.update(False, 12)
    corner = CornerTaps()
    assert [corner.tap(t) for t in (0, 0.5, 1, 1.5)] == [False] * 4
    assert corner.tap(2.0)
    slow = CornerTaps()
    assert not any(slow.tap(t * 1.0) for t in range(10))  # one a second never opens it


# ---- technician PIN -----------------------------------------------------------------------

def test_pin_is_hashed_and_locks_after_five_wrong_tries() -> None:
    encoded = hash_pin("2468", iterations=1000)
    assert "2468" not in encoded and verify_pin("2468", encoded)
    assert not verify_pin("2469", encoded) and not verify_pin("2468", "garbage")
    gate = PinGate(encoded, max_tries=5, lockout_s=300)
    assert [gate.check("0000", t).outcome for t in range(4)] == ["wrong"] * 4
    assert gate.check("0000", 5).outcome == "locked"
    assert gate.check("2468", 6).outcome == "locked"  # even the right PIN, while locked
    assert gate.check("2468", 306).outcome == "ok"
    assert PinGate(None).check("2468", 0).outcome == "unset"
    with pytest.raises(ValueError):
        hash_pin("12")


# ---- watchdog ---------------------------------------------------------------------------------

def test_watchdog_interval_and_socket() -> None:
    assert ping_interval_s({"WATCHDOG_USEC": "20000000"}, 1) == 10.0
    assert ping_interval_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "2"}, 1) == 5.0
    assert ping_interval_s({}, 1) == 5.0
    assert socket_address("@/org/systemd/notify") == "\0/org/systemd/notify"
    assert socket_address(None) is None
