"""API key rows. Only hashes are stored; plaintext keys never reach SQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from app.errors import InvalidToken, KeyLimitReached, KeyNotActive


def insert(
    conn: psycopg.Connection,
    user_id: UUID | str,
    name: str,
    key_hash: str,
    prefix: str,
    expires_at: datetime | None = None,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """Store a new key (admin connection) and its hash (``private.api_key_hashes``) in one
    statement; returns the public columns."""
    return conn.execute(
        "with k as ("
        "  insert into public.api_keys (user_id, name, prefix, expires_at, scopes)"
        "  values (%s, %s, %s, %s, %s)"
        "  returning id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at),"
        " h as (insert into private.api_key_hashes (key_id, key_hash) select k.id, %s from k)"
        " select * from k",
        (user_id, name, prefix, expires_at, scopes or [], key_hash),
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


# -- key management as the user (run inside app.db.as_user: RLS decides) ------------------------
# The functions below return a key's public columns plus ``status`` from public.api_key_status
# (active, rotating: replaced by a rotation and working until revoked_at, revoked or expired),
# the same view the browser reads. Never the hash.

_INSERT_OWN_SQL = (
    "insert into public.api_keys (user_id, name, prefix, scopes, expires_at)"
    " values ((select auth.uid()), %s, %s, %s, %s) returning id"
)
_STORE_HASH_SQL = "insert into private.api_key_hashes (key_id, key_hash) values (%s, %s)"
_GET_SQL = (
    "select id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at, status"
    " from public.api_key_status where id = %s"
)
_LIST_SQL = (
    "select id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at, status"
    " from public.api_key_status"
    " where user_id = (select auth.uid())"
    "   and (%(after)s::uuid is null or (created_at, id) <"
    "        (select a.created_at, a.id from public.api_keys a where a.id = %(after)s::uuid))"
    " order by created_at desc, id desc limit %(limit)s"
)
_REVOCATION_SQL = (
    "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
    " values (%s, (select auth.uid()), 'revoke', now())"
)
_ROTATION_SQL = (
    "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
    " values (%s, (select auth.uid()), 'rotate', now() + make_interval(secs => %s))"
)


def set_key_limit(conn: psycopg.Connection, max_active: int) -> None:
    """Hand ``MAX_ACTIVE_KEYS_PER_USER`` to the api_keys insert trigger for this transaction
    only (setting ``app.max_active_api_keys``)."""
    conn.execute("select set_config('app.max_active_api_keys', %s, true)", (str(max_active),))


def create_own(
    conn: psycopg.Connection,
    name: str,
    key_hash: str,
    prefix: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> dict[str, Any]:
    """Insert a key for the calling user (RLS: ``user_id = auth.uid()``, and the limit trigger)
    and its hash into ``private.api_key_hashes``; returns the key as ``get_own`` does.

    Raises ``KeyLimitReached`` (details ``limit``, ``active``), or ``InvalidToken`` when the
    caller's user no longer exists.
    """
    try:
        key_id = conn.execute(_INSERT_OWN_SQL, (name, prefix, scopes, expires_at)).fetchone()["id"]
    except psycopg.Error as exc:
        raise _key_error(exc) from None
    # The hash goes where no API role can read or write it: written with the connection's own
    # role for the key RLS just accepted, then back to the user's role for the rest.
    conn.execute("set local role none")
    conn.execute(_STORE_HASH_SQL, (key_id, key_hash))
    conn.execute("set local role authenticated")
    return get_own(conn, key_id)


def get_own(conn: psycopg.Connection, key_id: UUID | str) -> dict[str, Any] | None:
    """One of the calling user's keys (RLS), or None when unknown or someone else's."""
    return conn.execute(_GET_SQL, (key_id,)).fetchone()


def list_own(
    conn: psycopg.Connection, limit: int, after: UUID | str | None = None
) -> list[dict[str, Any]]:
    """The calling user's keys (RLS), newest first, ``limit`` rows after the key ``after``."""
    return conn.execute(_LIST_SQL, {"after": after, "limit": limit}).fetchall()


def revoke_own(conn: psycopg.Connection, key_id: UUID | str) -> None:
    """Record a revocation of the caller's key (``public.api_key_revocations``): the key stops
    working now. RLS refuses other users' keys (``psycopg.errors.InsufficientPrivilege``)."""
    conn.execute(_REVOCATION_SQL, (key_id,))


def schedule_rotation(conn: psycopg.Connection, key_id: UUID | str, grace_seconds: int) -> None:
    """Inside a ``db.as_user`` transaction: the caller's key stops working ``grace_seconds``
    from now (a ``rotate`` row). Only the service may schedule a revocation for later (rows the
    user inserts take effect at once), so this statement runs with the API's own role, then
    switches back to ``authenticated``. The caller must have checked that the key is theirs.

    Raises ``KeyNotActive`` when the key is revoked, expired or already rotated.
    """
    conn.execute("set local role none")
    try:
        conn.execute(_ROTATION_SQL, (key_id, grace_seconds))
    except psycopg.Error as exc:  # the transaction is aborted and rolls back with its role
        raise _key_error(exc) from None
    conn.execute("set local role authenticated")


def _key_error(exc: psycopg.Error) -> Exception:
    if exc.sqlstate == "CS010":
        detail = json.loads(exc.diag.message_detail or "{}")
        limit, active = int(detail.get("limit", 0)), int(detail.get("active", 0))
        message = (
            f"You have {active} active API keys, the maximum; revoke one first."
            if active >= limit
            else "Too many of your keys are still in a rotation grace period; revoke an old one."
        )
        return KeyLimitReached(message, details={"limit": limit, "active": active})
    if exc.sqlstate == "CS011":
        return KeyNotActive()
    if exc.sqlstate == "23503":  # a valid token whose user (profile) no longer exists
        return InvalidToken()
    return exc
