"""Pure loyalty rules: points, redemption, tiers, expiry, coupons, receipt tokens, fraud, RFM.

Nothing in this package does I/O, reads the clock or touches a database: callers pass the
moment (`now_ms`, UTC epoch milliseconds), the store's IANA timezone name and any randomness,
and get frozen dataclasses back. Money is integer fen (1 yuan = 100 fen).

Modules: `money` (shared rounding helpers), `local_time` (store-local calendar), `accrual`,
`redemption`, `tiers`, `expiry`, `coupons`, `coupon_codes`, `receipt_token`, `fraud`, `rfm`.
"""
