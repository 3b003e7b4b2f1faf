"""Recent posts and growth history: ``GET /v1/creators/posts`` and ``GET /v1/creators/history``.

Both are paid through the lookups' charge -> settle-or-refund flow (``public.creator_lookups``,
kinds ``posts`` and ``history``): the charge is recorded as pending, settled when the answer is
returned, refunded otherwise, and refunded by the orphan sweep if the process dies meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, g
from pydantic import BaseModel, Field

from app import db, profiles
from app import posts as posts_service
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
    error_responses,
    resource_blueprint,
)
from app.pagination import decode_cursor, encode_cursor
from app.queries import history as history_queries
from app.queries import posts as posts_queries
from app.scraping.fetch import (
    CreatorNotFound,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
    UrlNotAllowed,
)
from app.scraping.posts import Post, PostsNotAvailable, chain_for
from app.scraping.urls import CreatorRef, identify
from app.security import Principal, api_key_required
from app.v1.creators import (
    CreatorQuery,
    ProfileQuery,
    _principal,
    _target_url,
    outlived_deadline,
)

bp = resource_blueprint(
    "creator_posts",
    __name__,
    "/creators",
    "What a creator publishes and how the audience responds: recent posts with their "
    "engagement, and the growth history built from our own lookups.",
    API_KEY_SECURITY,
)


class PostsQuery(ProfileQuery):
    limit: int = Field(12, ge=1, le=50, description="How many recent posts (1-50).")
    max_age: int | None = Field(
        None,
        ge=0,
        le=30 * 86400,
        description="Serve cached posts only if at most this many seconds old (0 = always "
        "fetch fresh). Default, and never more than: the posts cache TTL (`POSTS_CACHE_TTL`, "
        "6 h).",
    )


class Aggregates(BaseModel):
    posts_sampled: int = Field(description="The creator's own posts among those returned.")
    avg_views: float | None = Field(description="Mean views of the posts showing views.")
    median_views: float | None = Field(description="Median views of the posts showing views.")
    avg_likes: float | None = Field(description="Mean likes of the posts showing likes.")
    avg_comments: float | None = Field(description="Mean comments of the posts showing them.")
    engagement_rate: float | None = Field(
        description="A fraction (0.0123 = 1.23 %), by `engagement_formula`; null when no post "
        "shows likes and comments (and views, for the views formula) or followers are unknown."
    )
    engagement_formula: str = Field(
        description="`mean over posts of (likes + comments) / followers`, or `... / views` on "
        "YouTube and Twitch and wherever the follower count is unknown."
    )
    followers: int | None = Field(description="The exact follower count used, if known.")
    posts_per_week: float | None = Field(
        description="(n - 1) / weeks between the oldest and newest of the n dated own posts."
    )
    last_post_at: datetime | None = Field(description="When the newest own post was published.")


class PostsData(BaseModel):
    platform: str
    handle: str
    source: str = Field(description="The source the posts came from (e.g. `bluesky_api`).")
    posts: list[Post] = Field(description="Newest first. Reposts are listed but not aggregated.")
    aggregates: Aggregates


class PaidMeta(BaseModel):
    request_id: str
    credits_charged: int = Field(description="Credits this call cost (0 when refunded).")
    credits_remaining: int = Field(description="Your balance after this call, in credits.")


class PostsMeta(PaidMeta):
    cached: bool = Field(description="True when served from the posts cache.")
    fetched_at: datetime | None = Field(description="When the posts were fetched.")


class PostsResponse(BaseModel):
    data: PostsData
    meta: PostsMeta


_UPSTREAM = (
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


_POSTS_ERRORS = error_responses(*API_KEY_ERRORS, PostsNotAvailable, *_UPSTREAM)


@bp.get("/posts", responses={200: PostsResponse, **_POSTS_ERRORS})
@api_key_required(cost=None)
@idempotent
def get_posts(query: PostsQuery):
    """The creator's most recent posts, newest first, with views, likes, comments, shares and
    the aggregates over them (mean and median views, engagement rate with its formula, posts
    per week, last post).

    Costs `POSTS_COST` credits (2), fetched or served from the posts cache (`POSTS_CACHE_TTL`,
    6 h; `max_age` demands fresher data). A call that returns no posts is refunded
    (`credits_charged` 0). Supports `Idempotency-Key`. A platform with no posts source on this
    server is 404 `posts_not_available`, never charged.

    Errors: 400 `validation_error`, 400 `url_not_allowed`, 401 `invalid_api_key`, 402
    `insufficient_credits`, 403 `account_suspended`, 404 `posts_not_available` (not charged),
    404 `creator_not_found`, 409 `idempotency_conflict`, 409 `idempotency_in_progress`, 429
    `rate_limited`, 502 `upstream_blocked`, 502 `upstream_error`, 504 `upstream_timeout`
    (all refunded).
    """
    config = current_app.config
    url = _target_url(query)
    ref = identify(url)
    settings = profiles.fetch_settings(config)
    chain_for(ref.platform, settings.credentials)
    max_age = config["POSTS_CACHE_TTL"] if query.max_age is None else query.max_age
    with db.connection() as conn:
        row = posts_queries.begin_lookup(
            conn,
            key_hash=g.api_key_hash,
            request_id=g.request_id,
            kind="posts",
            platform=ref.platform,
            handle=ref.handle,
            max_age=min(max_age, config["POSTS_CACHE_TTL"]),
            cost=config["POSTS_COST"],
        )
    principal = _principal(row)
    if row["cached"]:
        result = posts_service.PostsResult(row["data"], row["fetched_at"])
    else:
        try:
            fetched = posts_service.fetch(url, settings)
            result = posts_service.with_followers(fetched, row["followers"])
            settled = False
            if not result.empty:
                with db.connection() as conn:
                    settled = posts_queries.settle_posts(
                        conn,
                        request_id=principal.ref,
                        platform=ref.platform,
                        handle=ref.handle,
                        data=result.data,
                        fetched_at=result.fetched_at,
                        followers=result.data["followers"],
                        avg_views=posts_service.growth_avg_views(ref.platform, result),
                    )
        except BaseException:
            with db.connection() as conn:
                profiles.refund_lookup(conn, principal.ref)
            raise
        if result.empty:
            return _refunded(principal, ref, result)
        if not settled:
            raise outlived_deadline()
    return {
        "data": posts_service.answer(ref.platform, ref.handle, result, query.limit),
        "meta": {
            "request_id": g.request_id,
            "credits_charged": principal.charged,
            "credits_remaining": principal.balance,
            "cached": bool(row["cached"]),
            "fetched_at": result.fetched_at,
        },
    }


def _refunded(
    principal: Principal, ref: CreatorRef, result: posts_service.PostsResult
) -> dict[str, Any]:
    """Refund a posts call that found no posts, and answer with the empty list."""
    with db.connection() as conn:
        refunded = profiles.refund_lookup(conn, principal.ref)
    return {
        "data": posts_service.answer(ref.platform, ref.handle, result, 0),
        "meta": {
            "request_id": g.request_id,
            "credits_charged": 0 if refunded else principal.charged,
            "credits_remaining": principal.balance + (principal.charged if refunded else 0),
            "cached": False,
            "fetched_at": result.fetched_at,
        },
    }


# --- growth history ---------------------------------------------------------------------------


class HistoryQuery(CreatorQuery):
    since: datetime | None = Field(
        None,
        description="Only points at or after this time (ISO 8601; without an offset it is UTC).",
    )
    until: datetime | None = Field(
        None,
        description="Only points before this time (ISO 8601; without an offset it is UTC); "
        "must be after `since`.",
    )
    limit: int = Field(100, ge=1, le=500, description="Points per page (1-500).")
    cursor: str | None = Field(
        None, max_length=64, description="Opaque cursor from the previous page's meta.next_cursor."
    )


class GrowthPoint(BaseModel):
    fetched_at: datetime = Field(description="When the data of this point was fetched.")
    platform_user_id: str | None = Field(
        description="The platform's id of the account at this point (channel id, DID, user "
        "id), if the lookup learnt it."
    )
    followers: int | None
    following: int | None
    posts: int | None
    likes: int | None
    avg_views: float | None = Field(description="Mean views of the newest 12 posts, if known.")


class HistoryData(BaseModel):
    platform: str
    handle: str
    platform_user_id: str | None = Field(
        description="The platform's id of the account at the newest point of this page that "
        "has one; null when none does."
    )
    series: list[GrowthPoint] = Field(
        description="Oldest first, at most one point per hour (one per day after 30 days)."
    )
    followers_change_30d: int | None = Field(
        description="Newest follower count (before `until`) minus the newest one at least 30 "
        "days older; null when the history is shorter than 30 days."
    )
    growth_rate_30d: float | None = Field(
        description="`followers_change_30d` / the older count (0.05 = +5 %); null when unknown."
    )


class HistoryMeta(PaidMeta):
    has_more: bool
    next_cursor: str | None


class HistoryResponse(BaseModel):
    data: HistoryData
    meta: HistoryMeta


@bp.get(
    "/history",
    responses={
        200: HistoryResponse,
        **error_responses(
            *API_KEY_ERRORS,
            UrlNotAllowed,
            InsufficientCredits,
            AccountSuspended,
            IdempotencyConflict,
            IdempotencyInProgress,
        ),
    },
)
@api_key_required(cost=None)
@idempotent
def get_history(query: HistoryQuery):
    """The creator's growth series from our own lookups (followers, following, posts, likes,
    average views), oldest first, cursor-paginated, with the 30-day follower change and
    growth rate.

    Costs `HISTORY_COST` credits (1) per page; a page with no points is refunded
    (`credits_charged` 0). Supports `Idempotency-Key`.

    Errors: 400 `validation_error` (also a bad `cursor`, or `since` not before `until`), 400
    `url_not_allowed`, 401 `invalid_api_key`, 402 `insufficient_credits`, 403
    `account_suspended`, 409 `idempotency_conflict`, 409 `idempotency_in_progress`, 429
    `rate_limited`.
    """
    config = current_app.config
    url = _target_url(query)  # type: ignore[arg-type]
    ref = identify(url)
    after = _cursor_time(decode_cursor(query.cursor))
    since, until = _aware(query.since), _aware(query.until)
    if since and until and since >= until:
        raise ValidationFailed(
            details={"fields": [{"field": "since", "message": "Must be before until."}]}
        )
    with db.connection() as conn:
        row = posts_queries.begin_lookup(
            conn,
            key_hash=g.api_key_hash,
            request_id=g.request_id,
            kind="history",
            platform=ref.platform,
            handle=ref.handle,
            max_age=0,
            cost=config["HISTORY_COST"],
        )
    principal = _principal(row)
    try:
        with db.connection() as conn:
            rows = history_queries.series(
                conn,
                ref.platform,
                ref.handle,
                since=since,
                until=until,
                after=after,
                limit=query.limit + 1,
            )
            change = history_queries.followers_30d(conn, ref.platform, ref.handle, until)
            settled = bool(rows) and posts_queries.settle_history(conn, principal.ref)
        if not rows:
            with db.connection() as conn:
                profiles.refund_lookup(conn, principal.ref)
    except BaseException:
        with db.connection() as conn:
            profiles.refund_lookup(conn, principal.ref)
        raise
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = encode_cursor(int(rows[-1]["bucket"].timestamp()))
    base = change["base"] if change else None
    delta = change["latest"] - base if base is not None else None
    return {
        "data": {
            "platform": ref.platform,
            "handle": ref.handle,
            "platform_user_id": next(
                (r["platform_user_id"] for r in reversed(rows) if r["platform_user_id"]), None
            ),
            "series": [{k: v for k, v in r.items() if k != "bucket"} for r in rows],
            "followers_change_30d": delta,
            "growth_rate_30d": delta / base if base else None,
        },
        "meta": {
            "request_id": g.request_id,
            "credits_charged": principal.charged if settled else 0,
            "credits_remaining": principal.balance + (0 if settled else principal.charged),
            "has_more": next_cursor is not None,
            "next_cursor": next_cursor,
        },
    }


def _cursor_time(seconds: int | None) -> datetime | None:
    """The hour bucket a history cursor names (seconds since the epoch, UTC); raises 400
    ``validation_error`` on ``cursor`` when it is outside the dates Python can represent."""
    if not seconds:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValidationFailed(
            details={"fields": [{"field": "cursor", "message": "Invalid cursor."}]}
        ) from None


def _aware(value: datetime | None) -> datetime | None:
    """A query time as an aware datetime (a time without offset is UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
