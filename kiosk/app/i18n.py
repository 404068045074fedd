"""What the screens say, in Chinese and English (pure).

`tr(key, lang, **values)` formats one string; a key missing in a language falls back to
English, a key missing everywhere is shown as the key itself (visible in tests, never a crash).
Money is integer fen, shown as yuan (`money`). Messages of the checkout flow (`ShowMessage`)
are translated by their stable `code`; the flow's own English text is the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

STRINGS: dict[str, tuple[str, str]] = {  # key: (zh, en)
    # shell
    "lang_toggle": ("English", "中文"),
    "large_text": ("大字", "Large text"),
    "normal_text": ("标准字", "Normal text"),
    "touch_hint": ("轻触广告，领取优惠", "Touch the ad for its offer"),
    "offline": ("网络中断：本机暂不能付款，请到收银台结账", "Offline: please pay at the counter"),
    "no_content": ("欢迎光临", "Welcome"),
    "back": ("返回", "Back"),
    "cancel": ("取消", "Cancel"),
    "close": ("完成", "Done"),
    "delete": ("删除", "Delete"),
    "ok": ("确定", "OK"),
    "self_checkout": ("自助收银", "Self checkout"),
    "camera_off": ("摄像头不可用，请改用扫码付款", "The camera is not available. "
                                                  "Please pay by QR code."),
    # ad offer and coupon wallet
    "offer_title": ("本店优惠", "Offer in this store"),
    "offer_body": ("结账时出示会员身份，即享会员价与积分。",
                   "Pay here and join with one tap for member prices and points."),
    "offer_campaign": ("活动：{campaign}", "Campaign: {campaign}"),
    "offer_coupon": ("广告专享券：{title}", "Coupon with this ad: {title}"),
    "offer_until": ("有效期至 {date}", "Valid until {date}"),
    "offer_loading": ("正在查询本广告的优惠…", "Looking up this ad's offer…"),
    "claim_coupon": ("领取优惠券", "Claim the coupon"),
    "claiming": ("正在领取…", "Claiming…"),
    "claimed": ("已领取，已放入“我的优惠券”，结账时使用", "Claimed: it is in My coupons, "
                                                  "use it when you pay"),
    "claim_failed": ("暂时无法领取，请稍后再试", "The coupon cannot be claimed right now"),
    "claim_limit": ("本券领取太频繁，请稍后再试", "Too many claims for this coupon, "
                                             "please try later"),
    "claim_gone": ("本券已领完或已过期", "This coupon has run out or expired"),
    "claim_offline": ("网络中断，暂时无法领取", "Offline: the coupon cannot be claimed now"),
    "my_coupons": ("我的优惠券", "My coupons"),
    # member prices on the order
    "member_price_line": ("　会员价 {price}/件", "   member price {price} each"),
    "member_total": ("会员价合计", "Member total"),
    "member_save": ("会员本单省 {amount}：刷脸付款或用积分即享", "Members save {amount}: pay by "
                                                      "face or use points"),
    "member_prices_applied": ("会员价优惠", "Member prices"),
    # e-receipt
    "e_receipt": ("电子小票", "E-receipt"),
    "receipt_title": ("电子小票", "Your e-receipt"),
    "receipt_hint": ("用手机扫码查看并保存本单小票", "Scan with your phone to view and keep "
                                                "this receipt"),
    "receipt_order": ("订单 {order}", "Order {order}"),
    "receipt_loading": ("正在生成电子小票…", "Preparing your e-receipt…"),
    "receipt_failed": ("暂时无法生成电子小票，请向店员索取", "The e-receipt is not available now; "
                                                     "please ask the staff"),
    "wallet": ("我的优惠券", "My coupons"),
    "wallet_empty": ("还没有优惠券。付款后一键入会即得欢迎券。",
                     "No coupons yet. Join after paying to get a welcome coupon."),
    "coupon_amount": ("立减 {amount}", "{amount} off"),
    "coupon_percent": ("{percent}% 折扣", "{percent}% off"),
    "coupon_min": ("满 {amount} 可用", "on {amount} or more"),
    "coupon_code": ("券码 {code}", "Code {code}"),
    "coupon_hint": ("扫码把优惠券存到手机", "Scan to keep the coupon on your phone"),
    # checkout
    "order_title": ("您的订单", "Your order"),
    "item_line": ("{name} × {qty}", "{name} × {qty}"),
    "total": ("合计", "Total"),
    "savings": ("会员优惠", "Member savings"),
    "points_used": ("积分抵扣 {points}", "Points used: {points}"),
    "coupon_used": ("优惠券 {code}", "Coupon {code}"),
    "to_pay": ("应付", "To pay"),
    "pay": ("去付款", "Pay"),
    "use_points": ("用积分抵现金", "Use my points as cash"),
    "use_coupon": ("使用我的优惠券", "Use my coupon"),
    "applying": ("正在计算优惠…", "Applying your discount…"),
    "apply_failed": ("暂时无法使用，请稍后再试", "Could not apply that now. Please try again."),
    "bad_code": ("这不是付款码", "That is not a payment code."),
    "method_title": ("选择付款方式", "How would you like to pay?"),
    "m_native": ("手机扫码付款", "Scan a QR code with your phone"),
    "m_code": ("出示付款码", "Show your payment code"),
    "m_face": ("刷脸付款", "Pay with your face"),
    "m_face_consent": ("同意使用人脸并刷脸付款", "Agree to a face scan and pay with your face"),
    "face_consent_note": ("刷脸仅在您同意后使用；扫码和付款码始终可用。",
                          "Face pay is used only if you agree; QR and payment code always work."),
    "qr_title": ("请扫码付款", "Scan to pay"),
    "qr_hint": ("打开微信或支付宝扫一扫", "Open WeChat or Alipay and scan"),
    "qr_expires": ("{seconds} 秒内有效", "Valid for {seconds} s"),
    "code_title": ("请出示付款码", "Show your payment code"),
    "code_hint": ("把手机付款码对准摄像头", "Hold the code on your phone up to the camera"),
    "face_title": ("请看摄像头", "Look at the camera"),
    "face_hint": ("保持面部在框内", "Keep your face inside the frame"),
    "last4_title": ("请输入手机号后四位", "Enter the last 4 digits of your phone"),
    "last4_wrong": ("号码不符，请再试一次", "Those digits did not match. Please try again."),
    "face_fallback": ("请改用扫码或付款码付款",
                      "Please pay with the QR code or your payment code."),
    "sending": ("正在付款…", "Paying…"),
    "please_wait": ("请稍候", "Please wait"),
    "confirm_phone": ("请在手机上确认付款", "Please confirm the payment on your phone"),
    "checking": ("正在确认付款结果…", "Checking the payment…"),
    "checking_hint": ("正在与支付机构核实，请勿重复付款", "We are confirming with the bank. "
                                                  "Please don't pay again."),
    "closing": ("正在取消订单…", "Cancelling the order…"),
    "closing_hint": ("正在确认没有扣款", "Making sure no money was taken"),
    "failed_title": ("付款未成功", "The payment did not go through"),
    "choose_again": ("请换一种方式再试", "Please try again or choose another way"),
    "cancelled_title": ("订单已取消", "Order cancelled"),
    "ask_staff": ("请联系店员", "Please ask the staff"),
    "paid_title": ("付款成功，谢谢！", "Paid. Thank you!"),
    "paid_amount": ("已付 {amount}", "Paid {amount}"),
    "offer_join_title": ("一键加入 {brand} 会员", "Join {brand} with one tap"),
    "offer_join_points": ("本单立得 {points} 积分，另送欢迎券", "Get {points} points for this "
                                                       "purchase now, plus a welcome coupon"),
    "offer_profile": ("已找到您的资料：{name} {phone}", "We found your profile: {name} {phone}"),
    "offer_brands": ("已是会员：{brands}", "Already a member of: {brands}"),
    "join": ("一键入会", "Join"),
    "confirm_join": ("确认并加入", "Confirm and join"),
    "decline": ("不用了", "No thanks"),
    "joining": ("正在加入会员…", "Joining…"),
    "joined_title": ("欢迎加入 {brand}！", "Welcome to {brand}!"),
    "joined_points": ("本单积分 +{points}", "+{points} points for this purchase"),
    "joined_balance": ("积分余额 {balance}", "Points balance: {balance}"),
    "joined_coupon": ("欢迎券：{title}", "Welcome coupon: {title}"),
    "done_title": ("谢谢惠顾！", "Thank you!"),
    "join_failed": ("暂未确认入会，请联系店员", "We could not confirm joining. "
                                               "Please ask the staff."),
    # technician
    "tech_pin_title": ("技术员登录", "Technician sign-in"),
    "tech_pin_hint": ("请输入 PIN", "Enter the PIN"),
    "tech_pin_wrong": ("PIN 错误，还可尝试 {left} 次", "Wrong PIN, {left} tries left"),
    "tech_locked": ("已锁定，{seconds} 秒后再试", "Locked, try again in {seconds} s"),
    "tech_title": ("技术员", "Technician"),
    "self_test": ("自检", "Self-test"),
    "exit_kiosk": ("退出 Kiosk 模式", "Exit kiosk mode"),
    "recent_logs": ("最近日志", "Recent logs"),
    "running": ("正在运行…", "Running…"),
    "info_device": ("设备 {value}", "Device {value}"),
    "info_store": ("门店 {value}", "Store {value}"),
    "info_network": ("网络 {value}", "Network {value}"),
    "info_broker": ("控制器 {value}", "Broker {value}"),
    "info_content": ("内容版本 {value}", "Content {value}"),
    "info_version": ("软件版本 {value}", "App version {value}"),
}

MESSAGES: dict[str, str] = {  # ShowMessage.code -> string key
    "show_code": "code_hint", "look_at_camera": "face_hint", "join_failed": "join_failed",
    "paid": "paid_title", "bad_code": "bad_code", "apply_failed": "apply_failed",
    "wrong_digits": "last4_wrong", "face_fallback": "face_fallback",
}


def tr(key: str, lang: str, **values: object) -> str:
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "zh" else pair[1]
    return text.format(**values) if values else text


def money(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def message_text(code: str, text: str, lang: str) -> str:
    """A flow message in the shopper's language (the flow's English text if untranslated)."""
    key = MESSAGES.get(code)
    if key is None:
        return text
    return tr(key, lang)


def brand_name(brand_id: str | None, names: Mapping[str, str] | None = None) -> str:
    if not brand_id:
        return ""
    if names and brand_id in names:
        return names[brand_id]
    return " ".join(part.capitalize() for part in brand_id.replace("_", "-").split("-"))


def coupon_title(coupon: Mapping[str, object], lang: str) -> str:
    """A welcome/campaign coupon as the wire describes it (amount or percent, minimum spend)."""
    amount, percent = coupon.get("amount_off_fen"), coupon.get("percent_off")
    if isinstance(percent, int) and percent:
        title = tr("coupon_percent", lang, percent=percent)
    elif isinstance(amount, int):
        title = tr("coupon_amount", lang, amount=money(amount))
    else:
        title = str(coupon.get("title", ""))
    minimum = coupon.get("min_spend_fen")
    if isinstance(minimum, int) and minimum > 0:
        title += (" " if lang == "en" else "，") + tr("coupon_min", lang, amount=money(minimum))
    return title
