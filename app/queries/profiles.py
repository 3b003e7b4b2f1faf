"""The creator profile cache (``public.creator_profiles``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def get_fresh(
    conn: psycopg.Connection, platform: str, handle: str, max_age: int
) -> dict[str, Any] | None:
    """The cached ``{"data", "fetched_at"}`` for (platform, handle) if fetched within
    ``max_age`` seconds, else None."""
    return conn.execute(
        "select data, fetched_at from public.creator_profiles"
        " where platform = %s and handle = %s"
        " and fetched_at > now() - make_interval(secs => %s)",
        (platform, handle, max_age),
    ).fetchone()


def put(
    conn: psycopg.Connection,
    platform: str,
    handle: str,
    profile_url: str,
    data: dict[str, Any],
    fetched_at: datetime,
) -> None:
    """Insert or replace the cache entry for (platform, handle)."""
    conn.execute(
        "insert into public.creator_profiles (platform, handle, profile_url, data, fetched_at)"
        " values (%s, %s, %s, %s, %s)"
        " on conflict (platform, handle) do update set profile_url = excluded.profile_url,"
        " data = excluded.data, fetched_at = excluded.fetched_at",
        (platform, handle, profile_url, Jsonb(data), fetched_at),
    )
