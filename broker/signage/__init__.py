"""Signage planning: campaigns, targeting, forecasts and per-terminal playlist compilation.

Pure logic, no I/O; times are UTC epoch milliseconds passed in by the caller. The output is
`content.playlist.Playlist`, the contract the terminals play.
"""

from __future__ import annotations

from broker.signage.booking import BookingIssue, check_overlaps
from broker.signage.campaigns import Campaign, Creative, house_campaign, parse_dayparts
from broker.signage.forecast import Forecast, forecast, forecast_settings
from broker.signage.rule_index import RuleIndex
from broker.signage.scheduler import compile_playlists, preview
from broker.signage.targeting import Rule, Screen, ScreenIndex

__all__ = [
    "BookingIssue",
    "Campaign",
    "Creative",
    "Forecast",
    "Rule",
    "RuleIndex",
    "Screen",
    "ScreenIndex",
    "check_overlaps",
    "compile_playlists",
    "forecast",
    "forecast_settings",
    "house_campaign",
    "parse_dayparts",
    "preview",
]
