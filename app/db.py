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
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask, current_app
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

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


class IdleCheck:
    """The pool's ``check`` hook: ping a connection before handing it out only when it was last
    handed out ``after`` seconds ago or more.

    psycopg_pool's ``check_connection`` costs one round trip (an empty query) per checkout,
    as much as the work of a free call. A connection handed out less than ``after`` seconds ago
    has idled less than that, and is as alive as a ping would show; so only one unused for
    longer (or never used: new ones) is pinged, and a dead one is then replaced by the pool
    without the caller noticing. One that dies within ``after`` seconds of its last use fails
    its next query (503 ``unavailable``) and is discarded. ``after = 0`` pings on every
    checkout. ``ping`` is the probe of sync pools (default ``ConnectionPool.check_connection``;
    it raises on a dead connection). No ``reset`` hook is used: with one, psycopg_pool returns every
    connection through a background task instead of inline.
    """

    def __init__(
        self,
        after: float,
        ping: Callable[[psycopg.Connection], None] = ConnectionPool.check_connection,
    ) -> None:
        self.after = after
        self.ping = ping
        self._handed_out: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def due(self, conn: psycopg.Connection | psycopg.AsyncConnection) -> bool:
        """Whether ``conn`` needs a ping now (and note this checkout). Raises
        ``psycopg.OperationalError`` if it is known dead."""
        if conn.closed or conn.broken:
            raise psycopg.OperationalError("the connection is closed")
        now = time.monotonic()
        last = self._handed_out.get(conn)
        self._handed_out[conn] = now
        return last is None or now - last >= self.after

    def check(self, conn: psycopg.Connection) -> None:
        """``check`` hook of a ``ConnectionPool``."""
        if self.due(conn):
            self.ping(conn)

    async def check_async(self, conn: psycopg.AsyncConnection) -> None:
        """``check`` hook of an ``AsyncConnectionPool`` (procrastinate's, in the workers)."""
        if self.due(conn):
            await AsyncConnectionPool.check_connection(conn)


def new_pool(url: str, config: dict, *, min_size: int, max_size: int, name: str) -> ConnectionPool:
    """A closed ``ConnectionPool`` for ``url`` with our connection options and an ``IdleCheck``
    of ``DB_POOL_CHECK_IDLE`` seconds. Call ``open()`` on it."""
    idle_check = IdleCheck(config["DB_POOL_CHECK_IDLE"])
    return ConnectionPool(
        url,
        kwargs=connection_kwargs(url),
        min_size=min_size,
        max_size=max_size,
        timeout=config["DB_POOL_TIMEOUT"],
        check=idle_check.check,
        open=False,
        name=name,
    )


def init_app(app: Flask) -> None:
    """Resolve the database (URL or embedded), open the pool and store it on the app."""
    url = app.config["DATABASE_URL"] or start_embedded(app.config["EMBEDDED_PG_DIR"])
    app.config["DATABASE_URL"] = url
    pool = new_pool(
        url,
        app.config,
        min_size=app.config["DB_POOL_MIN_SIZE"],
        max_size=app.config["DB_POOL_MAX_SIZE"],
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
