"""The psycopg 3 connection pool, and the embedded Postgres used when no DATABASE_URL is set.

Views and services borrow a connection for as short a time as possible::

    with db.connection() as conn:
        row = queries.credits.balance(conn, user_id)

Connections are in autocommit mode, so a call to one SQL function is one round trip; code that
needs several statements atomically opens ``conn.transaction()``. Prepared statements are off
when the URL points at a transaction-mode pooler (Supabase's port 6543), which cannot keep them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from flask import Flask, current_app
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from app import migrate
from app.errors import Unavailable

log = logging.getLogger(__name__)

TRANSACTION_POOLER_PORT = "6543"


def start_embedded(data_dir: str | Path) -> str:
    """Start (or reuse) the pip-installed Postgres in ``data_dir``; apply compat + migrations.

    Returns a libpq URL for it. The server lives as long as a process using it does.
    """
    import pgserver  # imported here: only the embedded default needs it

    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode="stop")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply_compat(conn)
        applied = migrate.apply_pending(conn)
    if applied:
        log.info("embedded postgres migrated", extra={"versions": applied})
    return url


def connection_kwargs(url: str) -> dict:
    """psycopg connection options for ``url``: autocommit, dict rows, no server-side prepares
    behind a transaction-mode pooler."""
    kwargs: dict = {"autocommit": True, "row_factory": dict_row}
    if conninfo_to_dict(url).get("port") == TRANSACTION_POOLER_PORT:
        kwargs["prepare_threshold"] = None
    return kwargs


def init_app(app: Flask) -> None:
    """Resolve the database (URL or embedded), open the pool and store it on the app."""
    url = app.config["DATABASE_URL"] or start_embedded(app.config["EMBEDDED_PG_DIR"])
    app.config["DATABASE_URL"] = url
    pool = ConnectionPool(
        url,
        kwargs=connection_kwargs(url),
        min_size=app.config["DB_POOL_MIN_SIZE"],
        max_size=app.config["DB_POOL_MAX_SIZE"],
        timeout=app.config["DB_POOL_TIMEOUT"],
        check=ConnectionPool.check_connection,
        open=False,
        name="api",
    )
    pool.open()
    app.extensions["db_pool"] = pool


def get_pool() -> ConnectionPool:
    """The current app's pool."""
    return current_app.extensions["db_pool"]


@contextmanager
def connection() -> Iterator[psycopg.Connection]:
    """Borrow a pooled connection. Raises 503 ``unavailable`` when none can be had in time."""
    try:
        with get_pool().connection() as conn:
            yield conn
    except (PoolTimeout, psycopg.OperationalError) as exc:
        log.error("database unavailable: %s", type(exc).__name__)
        raise Unavailable("The database is not reachable right now.") from exc


@contextmanager
def as_user(claims: dict) -> Iterator[psycopg.Connection]:
    """A transaction that runs as PostgREST runs a browser's request: ``set local role
    authenticated`` and ``request.jwt.claims`` set to the verified token's ``claims``, so the
    same RLS policies decide what the user may read and write. Commits on success."""
    with connection() as conn, conn.transaction():
        conn.execute("set local role authenticated")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps(claims, default=str),)
        )
        yield conn
