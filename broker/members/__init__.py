"""Members at checkout: settling paid orders (points, purchases, fraud checks), joining with
one tap, points as cash, coupons, receipt QR claims and RFM segments."""
