"""Stored first responses for ``Idempotency-Key`` (table ``private.idempotency_keys``)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def claim(
    conn: psycopg.Connection,
    key_hash: str,
    idem_key: str,
    fingerprint: str,
    ttl: int,
    pending_timeout: int,
    request_id: str,
) -> dict[str, Any] | None:
    """Claim ``idem_key`` for the request ``request_id``, or return the row already holding it.

    Returns None when this request now owns the key; a stored response older than ``ttl``
    seconds, or a claim still unfinished after ``pending_timeout`` seconds (its process died),
    is replaced, and the dead request's profile-lookup charge, if still unsettled, is refunded
    in the same transaction (so a retry is never charged twice for one result). Otherwise
    returns the existing ``{"request_fingerprint", "status_code", "response"}``
    (``status_code`` None while the first request is still running).
    """
    with conn.transaction():
        abandoned = conn.execute(
            "delete from private.idempotency_keys where api_key_hash = %s"
            " and idempotency_key = %s and created_at < now() - make_interval(secs =>"
            " case when status_code is null then %s else %s end)"
            " returning request_id, status_code",
            (key_hash, idem_key, pending_timeout, ttl),
        ).fetchone()
        if abandoned and abandoned["status_code"] is None and abandoned["request_id"]:
            conn.execute(
                "select * from public.refund_profile_lookup(%s)", (abandoned["request_id"],)
            )
        inserted = conn.execute(
            "insert into private.idempotency_keys (api_key_hash, idempotency_key,"
            " request_fingerprint, request_id) values (%s, %s, %s, %s)"
            " on conflict do nothing returning 1",
            (key_hash, idem_key, fingerprint, request_id),
        ).fetchone()
        if inserted:
            return None
        return conn.execute(
            "select request_fingerprint, status_code, response from private.idempotency_keys"
            " where api_key_hash = %s and idempotency_key = %s",
            (key_hash, idem_key),
        ).fetchone()


def complete(
    conn: psycopg.Connection,
    key_hash: str,
    idem_key: str,
    status: int,
    body: Any,
    *,
    fingerprint: str,
    request_id: str,
) -> None:
    """Store the response the key will replay, for the request ``request_id`` that claimed it.

    The claim may be gone: a paid call that answers 2xx after refunding its charge (posts or
    history with nothing to show) released it through ``public.refund_profile_lookup``; the
    answer is then stored again under the same request. A claim another request has taken over
    meanwhile is left alone.
    """
    conn.execute(
        "insert into private.idempotency_keys as k (api_key_hash, idempotency_key,"
        " request_fingerprint, request_id, status_code, response)"
        " values (%s, %s, %s, %s, %s, %s)"
        " on conflict (api_key_hash, idempotency_key) do update"
        " set status_code = excluded.status_code, response = excluded.response"
        " where k.request_id is not distinct from excluded.request_id",
        (key_hash, idem_key, fingerprint, request_id, status, Jsonb(body)),
    )


def release(conn: psycopg.Connection, key_hash: str, idem_key: str) -> None:
    """Forget a claim whose request failed, so the client may retry with the same key."""
    conn.execute(
        "delete from private.idempotency_keys where api_key_hash = %s and idempotency_key = %s"
        " and status_code is null",
        (key_hash, idem_key),
    )
