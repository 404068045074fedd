"""Errors raised by the managed broker."""

from __future__ import annotations


class BrokerError(RuntimeError):
    """Mosquitto is missing, failed to start, or stopped answering."""
