"""Creator profile SQL: the cache (``public.creator_profiles``), its immutable snapshots and the
paid lookups (``public.creator_lookups``), through the functions of
``supabase/migrations/20261129100100_creator_lookups.sql``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from app.queries import credits as credit_queries


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
    """Store a fetched profile as a new snapshot and as the cache entry of (platform, handle)
    (unless a newer one is cached). One statement and no result read, so inside
    ``conn.pipeline()`` it shares the round trip of what follows."""
    conn.execute(
        "select public.store_creator_profile(%s, %s, %s, %s, %s)",
        (platform, handle, profile_url, Jsonb(data), fetched_at),
    )


def begin_lookup(
    conn: psycopg.Connection,
    *,
    key_hash: str,
    request_id: str,
    platform: str,
    handle: str,
    max_age: int,
    hit_cost: int,
    miss_cost: int,
) -> dict[str, Any]:
    """``public.begin_profile_lookup``, one round trip: the cache read, the charge
    (``spend_credits``, ledger ref ``request_id``) and the lookup row.

    Returns ``{"user_id", "api_key_id", "plan", "balance", "credits_charged", "cached",
    "snapshot_id", "data", "fetched_at"}`` (``data``/``fetched_at`` None on a miss). Raises
    ``InvalidApiKey``, ``AccountSuspended``, ``InsufficientCredits`` as ``credits.spend`` does.
    """
    try:
        return conn.execute(
            "select * from public.begin_profile_lookup(%s, %s, %s, %s, %s, %s, %s)",
            (key_hash, request_id, platform, handle, max_age, hit_cost, miss_cost),
        ).fetchone()
    except psycopg.Error as exc:
        credit_queries.raise_credit_error(exc)
        raise


def settle_lookup(
    conn: psycopg.Connection,
    *,
    request_id: str,
    platform: str,
    handle: str,
    profile_url: str,
    data: dict[str, Any],
    fetched_at: datetime,
) -> bool:
    """``public.settle_profile_lookup``: store the fetched profile (snapshot + cache) and mark
    the lookup succeeded, in one transaction. False when the lookup was no longer pending (its
    charge was refunded meanwhile)."""
    row = conn.execute(
        "select settled from public.settle_profile_lookup(%s, %s, %s, %s, %s, %s)",
        (request_id, platform, handle, profile_url, Jsonb(data), fetched_at),
    ).fetchone()
    return bool(row["settled"])


def refund_lookup(conn: psycopg.Connection, request_id: str) -> bool:
    """``public.refund_profile_lookup``: refund a pending lookup's charge, exactly once. True
    when this call refunded it."""
    row = conn.execute(
        "select refunded from public.refund_profile_lookup(%s)", (request_id,)
    ).fetchone()
    return bool(row["refunded"])


def sweep_orphans(conn: psycopg.Connection, older_than: int, limit: int = 500) -> int:
    """``public.sweep_orphaned_lookups``: refund up to ``limit`` lookups still pending
    ``older_than`` seconds after their charge. Returns how many were refunded."""
    row = conn.execute(
        "select public.sweep_orphaned_lookups(%s, %s) as refunded", (older_than, limit)
    ).fetchone()
    return row["refunded"]
