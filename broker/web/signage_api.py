"""Signage API: brands, creatives, campaigns, forecasts, playlist previews, reports.

Who may do what: the admin token may do everything (and books house content); a brand's own
token (created with the brand, shown once) sees and changes only that brand's creatives and
campaigns and reads only their reports. Every change to campaigns asks the publisher for a
pass, so terminals get new playlists within seconds.
"""

# No `from __future__ import annotations`: FastAPI resolves parameter annotations at import.
import asyncio
import hashlib
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ValidationError

from broker import storage
from broker.controller import Controller
from broker.playlist_push import load_screens
from broker.signage import Campaign, ScreenIndex, check_overlaps, forecast
from broker.storage import reports, signage
from broker.storage.report_buckets import local_day_bounds
from broker.web.auth import is_admin
from content.probe import CreativeError, Limits, probe

UPLOAD_LIMITS = Limits(max_bytes=200 * 1024 * 1024)


@dataclass(frozen=True)
class Caller:
    brand_id: str | None  # None: the admin

    def may_see(self, brand_id: str | None) -> bool:
        return self.brand_id is None or self.brand_id == brand_id


class BrandIn(BaseModel):
    brand_id: str
    name: str


class StatusIn(BaseModel):
    status: Literal["active", "paused", "archived"]
    revision: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or 'campaign'}: {e['msg']}"
            for e in exc.errors(include_url=False)]


def _parse_campaign(spec: dict[str, Any], who: Caller) -> Campaign:
    """A brand books for itself whatever brand_id it sends; refusals carry every reason."""
    if who.brand_id is not None:
        spec = {**spec, "brand_id": who.brand_id}
    try:
        return Campaign.model_validate(spec)
    except ValidationError as exc:
        raise HTTPException(422, {"refused": _errors(exc)}) from exc


def signage_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["signage"])

    def db() -> storage.Database:
        if controller.db is None:
            raise HTTPException(503, "controller is starting")
        return controller.db

    async def caller(authorization: Annotated[str | None, Header()] = None) -> Caller:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if is_admin(controller, token):
            return Caller(None)
        brand = await signage.brand_for_token(db(), token) if token else None
        if brand is None:
            raise HTTPException(401, "a brand or admin token is required (Authorization: Bearer …)")
        return Caller(brand.brand_id)

    Who = Annotated[Caller, Depends(caller)]
    Db = Annotated[storage.Database, Depends(db)]

    def publish_soon() -> None:
        if controller.playlists is not None:
            controller.playlists.request()

    @router.post("/brands", status_code=201)
    async def create_brand(body: BrandIn, who: Who, d: Db) -> dict[str, Any]:
        if who.brand_id is not None:
            raise HTTPException(403, "only the admin creates brands")
        token = secrets.token_urlsafe(24)
        try:
            await signage.create_brand(d, signage.BrandRecord(
                body.brand_id, body.name, hashlib.sha256(token.encode()).hexdigest(), _now_ms()))
        except storage.AlreadyExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"brand_id": body.brand_id, "name": body.name, "token": token}

    @router.post("/creatives", status_code=201)
    async def upload_creative(file: UploadFile, who: Who, d: Db,
                              house: bool = False) -> dict[str, Any]:
        if house and who.brand_id is not None:
            raise HTTPException(403, "only the admin uploads house content")
        data = await file.read(UPLOAD_LIMITS.max_bytes + 1)
        try:
            found = await asyncio.to_thread(probe, data, limits=UPLOAD_LIMITS,
                                            declared_type=_declared(file.content_type))
        except CreativeError as exc:
            raise HTTPException(422, {"reason": exc.reason, "message": str(exc)}) from exc
        assert controller.content is not None
        sha = await asyncio.to_thread(controller.content.add_file, data)  # atomic, by hash
        record = signage.CreativeRecord(
            sha256=sha, name=(file.filename or sha[:16])[:200], media_type=found.media_type,
            size=found.size, width=found.width, height=found.height, created_ms=_now_ms(),
            brand_id=None if house else who.brand_id, duration_ms=found.duration_ms)
        await signage.add_creative(d, record)
        stored = await signage.get_creative(d, sha)
        assert stored is not None
        if not who.may_see(stored.brand_id):
            raise HTTPException(409, "this file belongs to another brand")
        return asdict(stored)

    @router.get("/creatives")
    async def list_creatives(who: Who, d: Db) -> list[dict[str, Any]]:
        return [asdict(c) for c in await signage.list_creatives(d, brand_id=who.brand_id)]

    async def validated(spec: dict[str, Any], who: Who, d: storage.Database,
                        replacing: str | None = None) -> tuple[Campaign, list[str]]:
        """The campaign, or HTTP 422/409 with the reasons; plus warnings worth showing."""
        campaign = _parse_campaign(spec, who)
        if campaign.house and who.brand_id is not None:
            raise HTTPException(403, "only the admin books house content")
        for creative in campaign.creatives:
            record = await signage.get_creative(d, creative.sha256)
            if record is None or (record.brand_id not in (campaign.brand_id, None)):
                raise HTTPException(422, {"refused": [
                    f"creative {creative.sha256[:12]}… is not an uploaded creative of "
                    f"{campaign.brand_id}"]})
        others = [Campaign.model_validate(r.spec)
                  for r in await signage.list_campaigns(d, status="active")
                  if r.campaign_id not in (replacing, campaign.campaign_id)]
        screens = await load_screens(d)
        issues = await asyncio.to_thread(check_overlaps, [*others, campaign], screens,
                                         involving=campaign.campaign_id)
        # Reaching no screen yet is allowed (stores open, screens get installed): a warning.
        warnings = [str(i) for i in issues if i.reason.startswith("targets no screen")]
        refused = [str(i) for i in issues if not i.reason.startswith("targets no screen")]
        if refused:
            raise HTTPException(409, {"refused": refused})
        return campaign, warnings

    @router.post("/campaigns", status_code=201)
    async def create_campaign(spec: dict[str, Any], who: Who, d: Db) -> dict[str, Any]:
        campaign, warnings = await validated(spec, who, d)
        record = signage.CampaignRecord(
            campaign_id=campaign.campaign_id, brand_id=campaign.brand_id, name=campaign.name,
            spec=campaign.model_dump(mode="json"), created_ms=_now_ms())
        try:
            await signage.create_campaign(d, record)
        except storage.AlreadyExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
        publish_soon()
        return asdict(record) | {"warnings": warnings}

    async def own_campaign(campaign_id: str, who: Caller,
                           d: storage.Database) -> signage.CampaignRecord:
        record = await signage.get_campaign(d, campaign_id)
        if record is None or not who.may_see(record.brand_id):
            raise HTTPException(404, f"no campaign {campaign_id!r}")
        return record

    @router.put("/campaigns/{campaign_id}")
    async def update_campaign(campaign_id: str, spec: dict[str, Any], who: Who, d: Db,
                              if_match: Annotated[str, Header()]) -> dict[str, Any]:
        """Replace the campaign; `If-Match: <revision>` guards against lost updates."""
        await own_campaign(campaign_id, who, d)
        campaign, warnings = await validated({**spec, "campaign_id": campaign_id}, who, d,
                                             campaign_id)
        try:
            updated = await signage.update_campaign(
                d, campaign_id, expected_revision=int(if_match.strip('"')), updated_ms=_now_ms(),
                name=campaign.name, spec=campaign.model_dump(mode="json"))
        except signage.RevisionConflictError as exc:
            raise HTTPException(412, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        publish_soon()
        return asdict(updated) | {"warnings": warnings}

    @router.post("/campaigns/{campaign_id}/status")
    async def set_status(campaign_id: str, body: StatusIn, who: Who, d: Db) -> dict[str, Any]:
        await own_campaign(campaign_id, who, d)
        try:
            updated = await signage.update_campaign(
                d, campaign_id, expected_revision=body.revision, updated_ms=_now_ms(),
                status=body.status)
        except signage.RevisionConflictError as exc:
            raise HTTPException(412, str(exc)) from exc
        publish_soon()
        return asdict(updated)

    @router.get("/campaigns")
    async def list_campaigns(who: Who, d: Db) -> list[dict[str, Any]]:
        return [asdict(r) for r in await signage.list_campaigns(d, brand_id=who.brand_id)]

    @router.post("/forecast")
    async def forecast_campaign(spec: dict[str, Any], who: Who, d: Db) -> dict[str, Any]:
        """What a campaign would reach, before booking it (nothing is stored)."""
        campaign = _parse_campaign(spec, who)
        index = ScreenIndex(await load_screens(d))
        result = await asyncio.to_thread(forecast, campaign, index, from_ms=_now_ms())
        out = asdict(result)
        out["per_day"] = {day.isoformat(): n for day, n in result.per_day.items()}
        return out

    @router.get("/devices/{device_id}/preview")
    async def preview(device_id: str, who: Who, from_ms: int | None = None,
                      to_ms: int | None = None) -> list[dict[str, Any]]:
        """What plays on this terminal between from_ms and to_ms (default: the next hour)."""
        assert controller.playlists is not None
        t1 = from_ms if from_ms is not None else _now_ms()
        t2 = to_ms if to_ms is not None else t1 + 3_600_000
        playlist = (await controller.playlists.compile(t1)).get(device_id)
        if playlist is None:
            raise HTTPException(404, f"no playlist for {device_id!r}")
        own = set(await _brand_campaigns(who, controller))
        plays = [p.model_dump() for p in playlist.plays_between(t1, t2)]
        if who.brand_id is not None:  # a brand sees its own plays; the rest is just "other"
            for p in plays:
                if p["campaign_id"] not in own:
                    p.update(campaign_id="other", creative=None)
        return plays

    @router.get("/reports")
    async def report(who: Who, d: Db, since: date, until: date,
                     bucket: Literal["day", "hour"] = "day", tz: str = "Asia/Shanghai",
                     format: Annotated[Literal["json", "csv"], Query()] = "json") -> Any:
        """Impressions, seconds played and touches by campaign × store × day/hour."""
        ids = await _brand_campaigns(who, controller)
        try:
            since_ms, until_ms = local_day_bounds(tz, since, until)
            rows = await reports.play_report(d, campaign_ids=ids, since_ms=since_ms,
                                             until_ms=until_ms, bucket=bucket, tz=tz)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if format == "csv":
            return PlainTextResponse(reports.report_csv(rows), media_type="text/csv", headers={
                "content-disposition": f'attachment; filename="report-{since}-{until}.csv"'})
        return [r._asdict() for r in rows]

    return router


async def _brand_campaigns(who: Caller, controller: Controller) -> list[str | None]:
    assert controller.db is not None
    records = await signage.list_campaigns(controller.db, brand_id=who.brand_id)
    ids: list[str | None] = [r.campaign_id for r in records]
    return [*ids, None] if who.brand_id is None else ids  # house content: the admin's


def _declared(content_type: str | None) -> str | None:
    generic = {None, "", "application/octet-stream"}
    return None if content_type in generic else content_type
