"""The app's root widget: puts up the screen `shell.screen_for` names and routes taps.

- attract loop: `AttractView`, fed by `Playback` through `show_play` (the playback's `show`
  hook); a tap on the ad records `ad.touch` (`Playback.touch`) and opens its offer;
- checkout: the flow's state through `screens.view_for`, rendered by `Page`; buttons call
  `TerminalCheckout` (`screens.ACTIONS`); the playback pauses while the screen is taken;
- the offer, the coupon wallet, the technician PIN pad and screen (`pages`).
A half-second tick runs the idle timeout, the offline notice and the QR countdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from content.playlist import Play
from kiosk.app import pages
from kiosk.app.attract import AttractView
from kiosk.app.bar import top_bar
from kiosk.app.camera_feed import CameraFeed, FrameConsumer
from kiosk.app.controller_calls import CallFailed
from kiosk.app.i18n import tr
from kiosk.app.order_extras import PAID_SCREENS, paid_order_id, usable_coupon
from kiosk.app.page import Page, PageContext
from kiosk.app.pin import PinResult
from kiosk.app.profiles import Profile, Scale, panes
from kiosk.app.screens import ACTIONS, Action, Line, View, view_for
from kiosk.app.services import Services
from kiosk.app.shell import CornerTaps, IdleTimer, OfflineNotice, Shell, screen_for
from kiosk.checkout.events import ShowMessage
from kiosk.checkout.states import Idle, Joined, NeedSecondFactor, State, screen_name

if TYPE_CHECKING:  # kiosk.checkout.camera pulls in OpenCV: not at app start
    from kiosk.checkout.camera import Notice

log = logging.getLogger(__name__)
APP_SCREENS = ("offer", "wallet", "receipt", "tech_pin", "technician")


class KioskRoot(FloatLayout):
    def __init__(self, services: Services, profile: Profile, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services, self.profile = services, profile
        self.shell = Shell()
        now = services.clock()
        self.idle = IdleTimer(services.idle_s, now)
        self.offline = OfflineNotice(services.offline_grace_s)
        self.corner = CornerTaps()
        self.state: State = Idle()
        self.message: ShowMessage | None = None
        self.screen = ""
        self.page: Page | None = None
        self.bar: BoxLayout | None = None
        self.tech_detail: list[str] = []
        self.pin_problem: str | None = None
        self._key: tuple[Any, ...] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.attract = AttractView(self._ad_touched, self.act)
        self.notice: Notice | None = None  # what the camera step says (liveness, codes)
        self.feed = (CameraFeed(services.camera, consumer=self._camera_consumer)
                     if services.camera is not None else None)
        self._camera_on = False
        if services.checkout is not None:
            services.checkout.add_listener(self.on_checkout)
        self._ticker = Clock.schedule_interval(self._tick, 0.5)
        self.refresh()

    @property
    def scale(self) -> Scale:
        return Scale(self.profile, self.shell.large_text)

    # ---- inputs -----------------------------------------------------------------------------

    def show_play(self, play: Play | None) -> None:
        """`Playback`'s show hook: the creative now on screen (None: the item ended)."""
        if play is None or self.screen != "attract":
            return
        found = self.services.resolve(play.creative)
        if found is None:
            log.warning("app: creative %s is not in the library", play.creative[:12])
            return
        self.attract.stage.show(*found)
        self.attract.refresh()

    def on_checkout(self, state: State, messages: list[ShowMessage]) -> None:
        if messages:
            self.message = messages[-1]
        elif screen_name(state) != screen_name(self.state):
            self.message = None
        if screen_name(state) != screen_name(self.state):
            self.notice = None
        self.state = state
        if isinstance(state, Joined) and state.result.coupon:
            self.shell = self.shell.add_coupon(state.result.coupon)
        if isinstance(state, Idle):
            self.shell = self.shell.next_shopper()
        self.refresh()

    def act(self, action: str) -> None:
        self.idle.touch(self.services.clock())
        sh = self.shell
        if action == "lang":
            self.shell = sh.toggle_lang()
        elif action == "large_text":
            self.shell = sh.toggle_large_text()
        elif action in ACTIONS and self.services.checkout is not None:
            name, args = ACTIONS[action]
            self.spawn(getattr(self.services.checkout, name)(*args))
        elif action == "wallet":
            self.shell = sh.open("wallet")
        elif action == "claim_coupon" and sh.offer and self.services.calls is not None:
            campaign = str(sh.offer.get("campaign_id", ""))
            self.shell = sh.update_offer(campaign, claim="claiming")
            self.spawn(self._claim(campaign))
        elif action == "use_coupon" and self.services.checkout is not None:
            coupon = usable_coupon(self.state, sh.coupons)
            if coupon is not None:
                self.spawn(self.services.checkout.apply_coupon(str(coupon["code"])))
        elif action == "receipt" and self.services.calls is not None:
            order_id = paid_order_id(self.state)
            if order_id is not None:
                self.shell = sh.open("receipt", {"order_id": order_id})
                self.spawn(self._fetch_receipt(order_id))
        elif action == "overlay_back":
            self.shell, self.pin_problem, self.tech_detail = sh.close_overlay(), None, []
        elif action == "logs" and self.services.logs is not None:
            self.tech_detail = self.services.logs.lines(15)
        elif action == "self_test" and self.services.self_test is not None:
            self.tech_detail = [tr("running", sh.lang)]
            self.spawn(self._self_test())
        elif action == "exit":
            self.services.exit()
        self.refresh()

    async def _fetch_offer(self, campaign: str) -> None:
        assert self.services.calls is not None
        try:
            offer = await self.services.calls.ad_offer(campaign)
            coupon = offer.get("coupon")
            news = {"coupon": coupon if isinstance(coupon, dict) else None}
        except CallFailed as exc:
            log.info("app: no offer for campaign %s: %s", campaign, exc)
            news = {"coupon": None}
        self.shell = self.shell.update_offer(campaign, **news)
        self.refresh()

    async def _claim(self, campaign: str) -> None:
        assert self.services.calls is not None
        try:
            coupon = await self.services.calls.claim_coupon(campaign)
        except CallFailed as exc:
            log.info("app: coupon of campaign %s not claimed: %s", campaign, exc)
            self.shell = self.shell.update_offer(campaign, claim=exc.code)
        else:
            self.shell = self.shell.add_coupon(coupon).update_offer(campaign, claim="claimed")
        self.refresh()

    async def _fetch_receipt(self, order_id: str) -> None:
        assert self.services.calls is not None
        try:
            link = await self.services.calls.receipt_link(order_id)
            news: dict[str, Any] = {"url": link.get("url"), "expires_ms": link.get("expires_ms")}
        except CallFailed as exc:
            log.info("app: no e-receipt for %s: %s", order_id, exc)
            news = {"error": exc.code}
        self.shell = self.shell.update_receipt(order_id, **news)
        self.refresh()

    async def _self_test(self) -> None:
        assert self.services.self_test is not None
        self.tech_detail = await self.services.self_test()
        self.refresh()

    def digits(self, digits: str) -> None:
        if self.screen == "tech_pin":
            self._check_pin(self.services.pin.check(digits, self.services.clock()))
        elif isinstance(self.state, NeedSecondFactor) and self.services.checkout is not None:
            self.spawn(self.services.checkout.enter_last4(digits))

    def _check_pin(self, result: PinResult) -> None:
        lang = self.shell.lang
        if result.outcome == "ok":
            self.shell, self.pin_problem = self.shell.open("technician"), None
        elif result.outcome == "locked":
            self.pin_problem = tr("tech_locked", lang, seconds=result.locked_for_s)
        else:
            self.pin_problem = tr("tech_pin_wrong", lang, left=result.tries_left)
        self.refresh()

    def on_notice(self, notice: Notice) -> None:
        """The camera step's news (`CameraPay`): a liveness prompt, a refused code..."""
        self.notice = notice
        self.refresh()

    def _camera_consumer(self) -> FrameConsumer | None:
        make = self.services.camera_pay
        return make(self.on_notice) if make is not None else None

    async def _switch_camera(self, on: bool) -> None:
        assert self.feed is not None
        await self.feed.want(on)
        if on and self.feed.failed:
            self._key = None  # rebuild the page: it says the camera is off
            self.refresh()

    def _ad_touched(self) -> None:
        playback = self.services.playback
        play = playback.on_screen if playback is not None else None
        if playback is not None:
            self.spawn(playback.touch())
        offer: dict[str, Any] = {}
        if play is not None:
            offer = {"campaign_id": play.campaign_id, "creative": play.creative}
            found = self.services.resolve(play.creative)
            if found is not None and found[1].startswith("image/"):
                offer["picture"] = str(found[0])
        if offer.get("campaign_id") and self.services.calls is not None:
            offer["asking"] = True
            self.spawn(self._fetch_offer(str(offer["campaign_id"])))
        self.shell = self.shell.open("offer", offer)
        self.refresh()

    def on_touch_down(self, touch: Any) -> bool:
        now = self.services.clock()
        self.idle.touch(now)
        corner = self.scale.dp(90)
        if touch.x <= corner and touch.y >= self.height - corner:
            if self.corner.tap(now) and self.services.pin.encoded:
                self.shell, self.pin_problem = self.shell.open("tech_pin"), None
                self.refresh()
            return True
        return bool(super().on_touch_down(touch))

    # ---- output -----------------------------------------------------------------------------

    def current_view(self) -> View | None:
        lang, sh = self.shell.lang, self.shell
        if self.screen == "checkout":
            view = view_for(self.state, lang, self.message, self.services.brands)
            if self.notice is not None and view.camera:
                text = self.notice.zh if lang == "zh" else self.notice.en
                tone = "info" if self.notice.key == "liveness_prompt" else "error"
                role = "heading" if self.notice.key == "liveness_prompt" else "body"
                view = replace(view, lines=(*view.lines, Line(text, role, tone)))
            if usable_coupon(self.state, sh.coupons) is not None:
                view = replace(view, actions=(
                    *view.actions[:1], Action("use_coupon", tr("use_coupon", lang)),
                    *view.actions[1:]))
            if (self.services.calls is not None and paid_order_id(self.state)
                    and screen_name(self.state) in PAID_SCREENS):
                view = replace(view, actions=(*view.actions,
                                              Action("receipt", tr("e_receipt", lang))))
            return view
        if self.screen == "offer":
            return pages.offer_view(sh.offer, lang, self.services.brands)
        if self.screen == "wallet":
            return pages.wallet_view(sh.coupons, lang)
        if self.screen == "receipt":
            return pages.receipt_view(sh.receipt, lang)
        if self.screen == "tech_pin":
            return pages.pin_view(lang, self.pin_problem)
        if self.screen == "technician":
            return pages.technician_view(self.services.info(), self.tech_detail, lang)
        return None

    def refresh(self) -> None:
        was = self.screen
        self.screen = screen_for(self.shell, screen_name(self.state))
        view = self.current_view()
        want_camera = view is not None and view.camera
        if self.feed is not None and want_camera != self._camera_on:
            self._camera_on = want_camera
            self.spawn(self._switch_camera(want_camera))
        failed = self.feed is not None and self.feed.failed
        key = (self.screen, view, failed, self.shell.lang, self.shell.large_text, self.profile)
        if key == self._key:
            return
        style_changed = self._key is None or key[3:] != self._key[3:]
        self._key = key
        playback = self.services.playback
        if self.screen == "attract":
            self._drop_page()
            if style_changed or self.attract.scale is None:
                self.attract.restyle(self.scale, self.shell.lang)
            if self.attract.parent is None:
                self.add_widget(self.attract)
                if playback is not None:
                    playback.resume()
            return
        if was == "attract" or self.attract.parent is not None:
            self.remove_widget(self.attract)
            self.attract.stage.clear()
            if playback is not None:
                self.spawn(playback.pause())
        self._drop_page()
        assert view is not None
        feed = self.feed
        ctx = PageContext(self.scale, self.shell.lang, self.act, self.digits,
                          self.services.now_ms, feed.latest if feed is not None else None,
                          (lambda: feed.failed) if feed is not None else (lambda: False))
        self.page = Page(view, ctx)
        self.add_widget(self.page)
        self.bar = top_bar(self.scale, self.shell.lang, panes(self.scale)["bar"], self.act)
        self.add_widget(self.bar)

    def _drop_page(self) -> None:
        for w in (self.page, self.bar):
            if w is not None:
                self.remove_widget(w)
        if self.page is not None:
            self.page.stop()
        self.page = self.bar = None

    def _tick(self, _dt: float) -> None:
        now = self.services.clock()
        self.attract.set_offline(self.offline.update(self.services.online(), now))
        if self.page is not None:
            self.page.tick()
        dirty = self.shell != Shell() or self.pin_problem or self.tech_detail
        if dirty and self.idle.expired(now) and self.screen in (*APP_SCREENS, "attract"):
            self.shell, self.pin_problem, self.tech_detail = Shell(), None, []
            self.refresh()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("app: action failed", exc_info=task.exception())

