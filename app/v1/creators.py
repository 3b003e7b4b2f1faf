"""Creator profiles: ``GET /v1/creators/profile`` (paid, charge-and-refund)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import current_app, g
from pydantic import BaseModel, Field

from app import db, profiles
from app.errors import (
    AccountSuspended,
    IdempotencyConflict,
    InsufficientCredits,
    ValidationFailed,
)
from app.idempotency import IdempotencyInProgress, idempotent
from app.openapi import (
    API_KEY_ERRORS,
    API_KEY_SECURITY,
    QueryModel,
    error_responses,
    resource_blueprint,
)
from app.scraping.fetch import (
    CreatorNotFound,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
    UrlNotAllowed,
    validate_public_url,
)
from app.scraping.models import CreatorProfile
from app.scraping.urls import CANONICAL_URLS, assume_https, canonical_url, identify
from app.security import Principal, api_key_required, plan_cache

bp = resource_blueprint(
    "creators",
    __name__,
    "/creators",
    "Structured public data about a creator, read from their profile page.",
    API_KEY_SECURITY,
)

Platform = Literal[tuple(sorted(CANONICAL_URLS))]  # type: ignore[valid-type]
MAX_URL_LENGTH = 2048


class CreatorQuery(QueryModel):
    """Which creator: ``url``, or ``platform`` and ``handle`` (checked by ``_target_url``)."""

    url: str | None = Field(
        None,
        max_length=MAX_URL_LENGTH,
        description="The creator's profile URL (http/https; https:// is assumed if missing).",
        json_schema_extra={"example": "https://www.youtube.com/@mkbhd"},
    )
    platform: Platform | None = Field(  # type: ignore[valid-type]
        None, description="With `handle`, instead of `url`: the platform of the handle."
    )
    handle: str | None = Field(
        None, max_length=100, description="With `platform`: the handle (a leading @ is fine)."
    )


class ProfileQuery(CreatorQuery):
    max_age: int | None = Field(
        None,
        ge=0,
        le=30 * 86400,
        description=(
            "Serve cached data only if at most this many seconds old (0 = always fetch fresh). "
            "Default: the cache TTL (24 h)."
        ),
    )


class ProfileMeta(BaseModel):
    request_id: str
    credits_charged: int = Field(description="Credits this call cost (0 when refunded).")
    credits_remaining: int = Field(description="Your balance after this call, in credits.")
    cached: bool = Field(description="True when served from the cache.")
    fetched_at: datetime = Field(description="When the page was fetched.")


class ProfileResponse(BaseModel):
    data: CreatorProfile
    meta: ProfileMeta


_ERRORS = error_responses(
    *API_KEY_ERRORS,
    UrlNotAllowed,
    InsufficientCredits,
    AccountSuspended,
    CreatorNotFound,
    IdempotencyConflict,
    IdempotencyInProgress,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)


def _target_url(query: ProfileQuery) -> str:
    """The normalised URL to fetch; raises 400 ``validation_error`` / ``url_not_allowed``."""
    if query.url and (query.platform or query.handle):
        raise ValidationFailed(
            "Give either url, or platform and handle, not both.",
            details={"fields": [{"field": "url", "message": "Not with platform/handle."}]},
        )
    if query.url:
        url = assume_https(query.url)
    elif query.platform and query.handle:
        url = canonical_url(query.platform, query.handle)
        if url is None:
            raise ValidationFailed(
                details={"fields": [{"field": "handle", "message": "Not a valid handle."}]}
            )
    else:
        missing = (
            "url"
            if not (query.platform or query.handle)
            else ("handle" if query.platform else "platform")
        )
        raise ValidationFailed(
            "Give url, or platform and handle.",
            details={"fields": [{"field": missing, "message": "Field required."}]},
        )
    return validate_public_url(url, allow_loopback=current_app.config["FETCH_ALLOW_LOOPBACK"])


@bp.get("/profile", responses={200: ProfileResponse, **_ERRORS})
@api_key_required(cost=None)
@idempotent
def get_profile(query: ProfileQuery):
    """Profile data of one creator (YouTube, TikTok, Instagram, X, Bluesky, Twitch, Telegram,
    Substack, Linktree and other link-in-bio pages, personal sites).

    Costs `PROFILE_COST` credits (1) when the page is fetched, `PROFILE_CACHE_HIT_COST` (1) when
    served from the cache (`max_age` demands fresher data). A call that returns no profile data
    is refunded in full: the ledger shows the charge and its refund; a call whose process dies
    is refunded by the orphan sweep (`FETCH_DEADLINE` + `LOOKUP_ORPHAN_GRACE` + 15 s). The cache
    serves a page only to lookups of the same creator: the platform handle, or for other sites
    the same origin (scheme, host, port), path and query. Every paid call is a row of the
    caller's lookup history (`public.creator_lookups`). Supports `Idempotency-Key`.

    Errors: 400 `validation_error`, 400 `url_not_allowed` (private/loopback address or
    non-http scheme), 401 `invalid_api_key`, 402 `insufficient_credits`, 404
    `creator_not_found`, 409 `idempotency_conflict`, 429 `rate_limited`, 502 `upstream_blocked`
    (login wall, captcha, empty page), 502 `upstream_error`, 504 `upstream_timeout` (also
    `details.reason` `deadline` when the call outlived its orphan deadline and was refunded).
    """
    config = current_app.config
    url = _target_url(query)
    ref = identify(url)
    max_age = config["PROFILE_CACHE_TTL"] if query.max_age is None else query.max_age
    max_age = min(max_age, config["PROFILE_CACHE_TTL"])
    with db.connection() as conn:
        lookup = profiles.begin_lookup(
            conn,
            ref,
            key_hash=g.api_key_hash,
            request_id=g.request_id,
            max_age=max_age,
            hit_cost=config["PROFILE_CACHE_HIT_COST"],
            miss_cost=config["PROFILE_COST"],
        )
    principal = _principal(lookup.charge)
    result = lookup.hit
    if result is None:
        try:
            result = profiles.shareable(url, profiles.scrape(url, profiles.fetch_settings(config)))
            with db.connection() as conn:
                settled = profiles.settle_lookup(conn, ref, principal.ref, result)
        except BaseException:
            with db.connection() as conn:
                profiles.refund_lookup(conn, principal.ref)
            raise
        if not settled:
            raise outlived_deadline()
    return {
        "data": result.data,
        "meta": {
            "request_id": g.request_id,
            "credits_charged": principal.charged,
            "credits_remaining": principal.balance,
            "cached": result.cached,
            "fetched_at": result.fetched_at,
        },
    }


def outlived_deadline() -> UpstreamTimeout:
    """504 ``upstream_timeout`` (``details.reason`` ``deadline``) for a lookup whose result came
    after the orphan sweep had refunded its charge: the caller pays nothing and may retry."""
    return UpstreamTimeout(
        "The lookup outlived its deadline and was refunded; retry it.",
        details={"reason": "deadline"},
    )


def _principal(charge: dict) -> Principal:
    """The caller as ``charge()`` would record it (``g.principal``, the plan cache)."""
    plan_cache.put(g.api_key_hash, charge["plan"])
    g.principal = Principal(
        user_id=charge["user_id"],
        api_key_id=charge["api_key_id"],
        plan=charge["plan"],
        balance=charge["balance"],
        charged=charge["credits_charged"],
        ref=g.request_id,
    )
    return g.principal
