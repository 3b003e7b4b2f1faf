"""Posts and history lookups: SQL through the functions of
``supabase/migrations/20261129150000_posts_growth.sql`` (charge, settle; the refund is
``public.refund_profile_lookup``, shared with profiles: see ``app.queries.profiles``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from app.queries import credits as credit_queries


def begin_lookup(
    conn: psycopg.Connection,
    *,
    key_hash: str,
    request_id: str,
    kind: str,
    platform: str,
    handle: str,
    max_age: int,
    cost: int,
) -> dict[str, Any]:
    """``public.begin_creator_lookup``, one round trip: for ``kind`` ``posts`` the posts cache
    (if at most ``max_age`` seconds old) and the cached profile's exact follower count; the
    charge of ``cost`` credits (ledger ref ``request_id``) and the lookup row.

    Returns ``{"user_id", "api_key_id", "plan", "balance", "credits_charged", "cached",
    "data", "fetched_at", "followers"}``. Raises ``InvalidApiKey``, ``AccountSuspended``,
    ``InsufficientCredits`` as ``credits.spend`` does.
    """
    try:
        return conn.execute(
            "select * from public.begin_creator_lookup(%s, %s, %s, %s, %s, %s, %s)",
            (key_hash, request_id, kind, platform, handle, max_age, cost),
        ).fetchone()
    except psycopg.Error as exc:
        credit_queries.raise_credit_error(exc)
        raise


def settle_posts(
    conn: psycopg.Connection,
    *,
    request_id: str,
    platform: str,
    handle: str,
    data: dict[str, Any],
    fetched_at: datetime,
    followers: int | None,
    avg_views: float | None,
) -> bool:
    """``public.settle_posts_lookup``: mark the lookup paid, cache the posts and record a growth
    point, in one transaction. False when the lookup was no longer pending (refunded)."""
    row = conn.execute(
        "select public.settle_posts_lookup(%s, %s, %s, %s, %s, %s, %s) as settled",
        (request_id, platform, handle, Jsonb(data), fetched_at, followers, avg_views),
    ).fetchone()
    return bool(row["settled"])


def settle_history(conn: psycopg.Connection, request_id: str) -> bool:
    """``public.settle_creator_lookup``: mark a history lookup paid. False when refunded."""
    row = conn.execute(
        "select public.settle_creator_lookup(%s) as settled", (request_id,)
    ).fetchone()
    return bool(row["settled"])


def record_growth(
    conn: psycopg.Connection,
    *,
    platform: str,
    handle: str,
    fetched_at: datetime,
    followers: int | None = None,
    following: int | None = None,
    posts: int | None = None,
    likes: int | None = None,
    avg_views: float | None = None,
    platform_user_id: str | None = None,
) -> None:
    """``public.record_creator_growth``: one growth point (merged into its UTC hour)."""
    conn.execute(
        "select public.record_creator_growth(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            platform,
            handle,
            fetched_at,
            followers,
            following,
            posts,
            likes,
            avg_views,
            platform_user_id,
        ),
    )


def fresh_posts(
    conn: psycopg.Connection, platform: str, handle: str, max_age: int
) -> dict[str, Any] | None:
    """The cached posts ``{"data", "fetched_at"}`` if at most ``max_age`` seconds old."""
    if max_age <= 0:
        return None
    return conn.execute(
        "select data, fetched_at from public.creator_posts"
        " where platform = %s and handle = %s and fetched_at > now() - make_interval(secs => %s)",
        (platform, handle, max_age),
    ).fetchone()


def store_posts(
    conn: psycopg.Connection,
    *,
    platform: str,
    handle: str,
    data: dict[str, Any],
    fetched_at: datetime,
    followers: int | None,
    avg_views: float | None,
) -> None:
    """``public.store_creator_posts``: cache fetched posts and record a growth point (batch
    job items, which have no lookup row of their own)."""
    conn.execute(
        "select public.store_creator_posts(%s, %s, %s, %s, %s, %s)",
        (platform, handle, Jsonb(data), fetched_at, followers, avg_views),
    )
