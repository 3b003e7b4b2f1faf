"""``GET /v1/creators/platforms``: which sources each platform's lookup uses here (free, no key)."""

from __future__ import annotations

from typing import Literal

from flask import current_app, g
from pydantic import BaseModel, Field

from app.openapi import resource_blueprint
from app.profiles import fetch_settings
from app.scraping.posts import posts_catalogue
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


class PostsSourceInfo(BaseModel):
    name: str = Field(description="Source name as in the posts answer's `source`.")
    endpoint: str = Field(description="What the source requests.")
    credentials: list[str] = Field(description="Server settings the source needs (empty: none).")
    active: bool = Field(description="True when this server has the credentials.")


class PostsInfo(BaseModel):
    available: bool = Field(
        description="True when `GET /v1/creators/posts` works for this platform here; false "
        "answers 404 `posts_not_available` (not charged)."
    )
    sources: list[PostsSourceInfo] = Field(description="Posts sources in the order tried.")


class PlatformInfo(BaseModel):
    platform: str = Field(description="Platform name as in `CreatorProfile.platform`.")
    sources: list[SourceInfo] = Field(description="Sources in the order they are tried.")
    posts: PostsInfo = Field(description="Whether recent posts are available, and from where.")


class PlatformsMeta(BaseModel):
    request_id: str


class PlatformsResponse(BaseModel):
    data: list[PlatformInfo]
    meta: PlatformsMeta


@bp.get("/platforms", responses={200: PlatformsResponse})
def list_platforms():
    """Every supported platform with its sources in the order a lookup tries them, whether
    each source is active on this server (its credentials are set) and the fields it gives,
    exact or rounded; and whether recent posts (`GET /v1/creators/posts`) are available.
    Free; no API key needed. Errors: 429 `rate_limited` only.
    """
    credentials = fetch_settings(current_app.config).credentials
    posts = posts_catalogue(credentials)
    none = {"available": False, "sources": []}
    data = [
        {**entry, "posts": posts.get(entry["platform"], none)} for entry in catalogue(credentials)
    ]
    return {"data": data, "meta": {"request_id": g.request_id}}
