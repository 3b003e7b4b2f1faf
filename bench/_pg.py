"""A throwaway embedded Postgres with the schema applied, for benchmarks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg

from app import migrate


def start() -> tuple[object, str]:
    """Start pgserver in a temp dir; apply compat + migrations. Returns (server, url)."""
    import pgserver

    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="bench-pg-")), cleanup_mode="delete")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply_compat(conn)
        migrate.apply_pending(conn)
        conn.execute("update private.settings set value = '0' where key = 'signup_credits'")
    return server, url
