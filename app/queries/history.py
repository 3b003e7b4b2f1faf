"""The growth series of one creator (``public.creator_growth_snapshots``).

Every statement reads the unique index ``(platform, handle, bucket)``: a range scan for the
series, and two single-row probes for the 30-day change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg


def series(
    conn: psycopg.Connection,
    platform: str,
    handle: str,
    *,
    since: datetime | None,
    until: datetime | None,
    after: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows, oldest first, with ``since <= bucket < until`` and ``bucket >
    after`` (the cursor); each ``{"bucket", "fetched_at", "platform_user_id", "followers",
    "following", "posts", "likes", "avg_views"}``."""
    return conn.execute(
        "select bucket, fetched_at, platform_user_id, followers, following, posts, likes,"
        "       avg_views"
        "  from public.creator_growth_snapshots"
        " where platform = %(platform)s and handle = %(handle)s"
        "   and bucket >= coalesce(%(since)s::timestamptz, '-infinity')"
        "   and bucket < coalesce(%(until)s::timestamptz, 'infinity')"
        "   and bucket > coalesce(%(after)s::timestamptz, '-infinity')"
        " order by bucket limit %(limit)s",
        {
            "platform": platform,
            "handle": handle,
            "since": since,
            "until": until,
            "after": after,
            "limit": limit,
        },
    ).fetchall()


def followers_30d(
    conn: psycopg.Connection, platform: str, handle: str, until: datetime | None
) -> dict[str, Any] | None:
    """The newest follower count before ``until`` and the newest one at least 30 days older:
    ``{"latest", "latest_at", "base", "base_at"}`` (``base`` None when the history is shorter),
    or None without any follower count."""
    return conn.execute(
        "with latest as ("
        "  select followers, bucket from public.creator_growth_snapshots"
        "   where platform = %(platform)s and handle = %(handle)s and followers is not null"
        "     and bucket < coalesce(%(until)s::timestamptz, 'infinity')"
        "   order by bucket desc limit 1"
        ") select l.followers as latest, l.bucket as latest_at, b.followers as base,"
        "         b.bucket as base_at"
        "    from latest l left join lateral ("
        "      select followers, bucket from public.creator_growth_snapshots"
        "       where platform = %(platform)s and handle = %(handle)s and followers is not null"
        "         and bucket <= l.bucket - interval '30 days'"
        "       order by bucket desc limit 1) b on true",
        {"platform": platform, "handle": handle, "until": until},
    ).fetchone()
