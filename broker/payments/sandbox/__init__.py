"""A local payment provider that speaks WeChat Pay API v3 (see app.py, v3_api.py, admin_api.py).

The WeChat adapter (`broker.payments.wechat`) talks to it exactly as to WeChat: switching to
the real provider is configuration (base URL and keys). Start it in-process with
`SandboxServer`, or standalone with `python -m broker.payments.sandbox --port 8090 --keys-dir DIR`.
"""

from broker.payments.sandbox.app import Sandbox, SandboxConfig, create_app
from broker.payments.sandbox.clock import SandboxClock
from broker.payments.sandbox.keys import MerchantKeys, SandboxKeys, load_or_create
from broker.payments.sandbox.server import SandboxServer
from broker.payments.sandbox.wallet_page import wallet_url

__all__ = ["MerchantKeys", "Sandbox", "SandboxClock", "SandboxConfig", "SandboxKeys",
           "SandboxServer", "create_app", "load_or_create", "wallet_url"]
