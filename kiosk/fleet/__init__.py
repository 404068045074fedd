"""Fleet simulator: many headless terminals in one asyncio process, each with its own login."""

from kiosk.fleet.fleet import Fleet, synthetic_events

__all__ = ["Fleet", "synthetic_events"]
