"""HTTP API and the operator web console (server-rendered)."""

from broker.web.app import create_app

__all__ = ["create_app"]
