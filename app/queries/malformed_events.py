"""``private.stripe_malformed_events``: signed Stripe deliveries that are not well-formed."""

from __future__ import annotations

import psycopg


def record(
    conn: psycopg.Connection,
    *,
    payload_sha256: str,
    event_id: str | None,
    event_type: str | None,
    reason: str,
    payload_bytes: int,
    payload_excerpt: str,
) -> bool:
    """Store one malformed delivery, or count a redelivery of the same body. True the first
    time this body is seen. ``conn`` returns dict rows (``app.db``)."""
    row = conn.execute(
        "insert into private.stripe_malformed_events"
        " (payload_sha256, event_id, event_type, reason, payload_bytes, payload_excerpt)"
        " values (%s, %s, %s, %s, %s, %s)"
        " on conflict (payload_sha256) do update"
        "   set deliveries = private.stripe_malformed_events.deliveries + 1,"
        "       last_received_at = now()"
        " returning deliveries",
        (payload_sha256, event_id, event_type, reason, payload_bytes, payload_excerpt),
    ).fetchone()
    return row["deliveries"] == 1
