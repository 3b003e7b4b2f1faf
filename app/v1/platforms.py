"""``GET /v1/creators/platforms``: which sources each platform's lookup uses here (free, no key)."""

from __future__ import annotations

from typing import Literal

from flask import current_app, g
from pydantic import BaseModel, Field

from app.openapi import resource_blueprint
from app.profiles import fetch_settings
from app.scraping.sources import catalogue

bp = resource_blueprint(
    "platforms",
    __name__,
    "/creators",
    "The platforms a lookup supports and the sources it reads, in order. No authentication.",
)


class SourceInfo(BaseModel):
    name: str = Field(
        description="Source name as it appears in a profile's `sources` (e.g. `bluesky_api`, "
        "`youtube_data_api`; `page` for the profile page, whose fields read `page:<where>`).",
        examples=["bluesky_api"],
    )
    endpoint: str = Field(description="What the source requests.")
    credentials: list[str] = Field(
        description="Server settings the source needs (empty: none). Never their values."
    )
    active: bool = Field(
        description="True when this server has the credentials, so the source is tried."
    )
    fields: dict[str, Literal["exact", "rounded"]] = Field(
        description="Profile fields the source can give: `exact`, or `rounded` when the "
        "platform shows only a rounded figure (e.g. '1.2M')."
    )


class PlatformInfo(BaseModel):
    platform: str = Field(description="Platform name as in `CreatorProfile.platform`.")
    sources: list[SourceInfo] = Field(description="Sources in the order they are tried.")


class PlatformsMeta(BaseModel):
    request_id: str


class PlatformsResponse(BaseModel):
    data: list[PlatformInfo]
    meta: PlatformsMeta


@bp.get("/platforms", responses={200: PlatformsResponse})
def list_platforms():
    """Every supported platform with its sources in the order a lookup tries them, whether
    each source is active on this server (its credentials are set) and the fields it gives,
    exact or rounded. Free; no API key needed. Errors: 429 `rate_limited` only.
    """
    credentials = fetch_settings(current_app.config).credentials
    return {"data": catalogue(credentials), "meta": {"request_id": g.request_id}}
