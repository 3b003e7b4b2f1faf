"""API key rows. Only hashes are stored; plaintext keys never reach SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg


def insert(
    conn: psycopg.Connection,
    user_id: UUID | str,
    name: str,
    key_hash: str,
    prefix: str,
    expires_at: datetime | None = None,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """Store a new key's hash and display prefix; returns the public columns."""
    return conn.execute(
        "insert into public.api_keys (user_id, name, key_hash, prefix, expires_at, scopes)"
        " values (%s, %s, %s, %s, %s, %s)"
        " returning id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at",
        (user_id, name, key_hash, prefix, expires_at, scopes or []),
    ).fetchone()


def revoke(conn: psycopg.Connection, key_id: UUID | str) -> dict[str, Any] | None:
    """Revoke a key now (idempotent: an already revoked key keeps its time). None if unknown."""
    return conn.execute(
        "update public.api_keys set revoked_at = coalesce(revoked_at, now()) where id = %s"
        " returning id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at",
        (key_id,),
    ).fetchone()


def list_for_user(conn: psycopg.Connection, user_id: UUID | str) -> list[dict[str, Any]]:
    """A user's keys, newest first, without hashes."""
    return conn.execute(
        "select id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at"
        " from public.api_keys where user_id = %s order by created_at desc",
        (user_id,),
    ).fetchall()
