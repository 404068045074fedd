"""Demo content: sample creatives, three brands and their campaigns, booked like an operator.

House content is the chain's own poster ("Store Picks"); Nordic Roast books Shanghai
hypermarkets at breakfast and all day, Lumen Beauty books convenience stores on campus, and
FreshMart books every store at a lower priority. So the two demo stores get different
playlists, visible in `/api/devices/<id>/preview` and, as terminals play, in `/api/reports`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from broker.controller import Controller
from broker.signage import Campaign
from broker.storage import signage
from content.probe import probe
from content.samples import DEFAULT_BRANDS, Brand, generate_samples

HOUSE = Brand("Store Picks", "Fresh deals every day", (70, 80, 100))
BRANDS = {"nordic-roast": "Nordic Roast", "lumen-beauty": "Lumen Beauty",
          "freshmart": "FreshMart"}


def _campaigns(creatives: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    flight = {"flight_start": str(today - timedelta(days=1)),
              "flight_end": str(today + timedelta(days=30))}

    def both(brand: str) -> list[dict[str, Any]]:
        return [{"sha256": creatives[brand]["portrait"], "duration_ms": 10_000},
                {"sha256": creatives[brand]["landscape"], "duration_ms": 10_000}]

    return [
        {"campaign_id": "nordic-spring", "brand_id": "nordic-roast", "name": "Spring roast",
         "dayparts": "Mon-Sun 00-23", "priority": 7, "plays_per_hour": 30,
         "creatives": both("nordic-roast"), "rule": {"formats": ["hypermarket"]}, **flight},
        {"campaign_id": "lumen-campus", "brand_id": "lumen-beauty", "name": "Campus glow",
         "dayparts": "Mon-Sun 00-23", "priority": 6, "plays_per_hour": 40,
         "creatives": both("lumen-beauty"), "rule": {"tags_any": ["campus"]}, **flight},
        {"campaign_id": "freshmart-weekly", "brand_id": "freshmart", "name": "Weekly deals",
         "dayparts": "Mon-Sun 00-23", "priority": 3, "plays_per_hour": 20,
         "frequency_cap_per_day": 400, "creatives": both("freshmart"), **flight},
    ]


async def seed_demo_content(controller: Controller, work_dir: Path) -> dict[str, str]:
    """Book the sample campaigns; return each brand's API token (shown once, in the banner)."""
    assert controller.db is not None and controller.content is not None
    db, store = controller.db, controller.content
    paths = await asyncio.to_thread(generate_samples, work_dir / "samples",
                                    [HOUSE, *DEFAULT_BRANDS], video=False)
    now = int(time.time() * 1000)
    tokens = {}
    for brand_id, name in BRANDS.items():
        token = secrets.token_urlsafe(16)
        await signage.create_brand(db, signage.BrandRecord(
            brand_id, name, hashlib.sha256(token.encode()).hexdigest(), now))
        tokens[brand_id] = token
    creatives: dict[str, dict[str, str]] = {}
    for path in paths:
        data = path.read_bytes()
        found = await asyncio.to_thread(probe, data)
        sha = store.add_file(data)
        slug, _, shape = path.stem.rpartition("-")
        brand_id = None if slug == "store-picks" else slug
        await signage.add_creative(db, signage.CreativeRecord(
            sha256=sha, name=path.name, media_type=found.media_type, size=found.size,
            width=found.width, height=found.height, created_ms=now, brand_id=brand_id))
        creatives.setdefault(slug, {})[shape] = sha
    for spec in _campaigns(creatives):
        campaign = Campaign.model_validate(spec)
        await signage.create_campaign(db, signage.CampaignRecord(
            campaign_id=campaign.campaign_id, brand_id=campaign.brand_id, name=campaign.name,
            spec=campaign.model_dump(mode="json"), created_ms=now))
    if controller.playlists is not None:
        controller.playlists.request()
    return tokens

