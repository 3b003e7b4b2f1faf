"""Test fixtures: one real Postgres per test session, clean tables for every test.

The database is the embedded server (pgserver) in a temporary directory, with the
Supabase-compatibility layer and every migration applied, unless ``TEST_DATABASE_URL`` points at
another disposable Postgres (which must already carry the compatibility layer or be Supabase).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_openapi3 import OpenAPI
from psycopg.rows import dict_row
from werkzeug.serving import make_server

from app import create_app, migrate
from app.security import generate_api_key
from app.tokens import mint_access_token

# Tables other than auth.users' cascade that tests must empty; later features append theirs.
EXTRA_TABLES_TO_CLEAN: list[str] = [
    "public.creator_profiles",
    "public.creator_profile_snapshots",
    "public.stripe_fulfilment_alerts",
    "public.creator_posts",
    "public.creator_growth_snapshots",
    "private.idempotency_keys",
    "public.stripe_events",
    "private.host_politeness",
    "procrastinate.procrastinate_jobs",
    "procrastinate.procrastinate_workers",
]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, disposable Postgres for the whole session.

    Its data directory is a fresh ``/tmp/creatorscrape-test-pg-*`` (not pytest's tmp_path, whose
    private parent directory the unprivileged server user cannot enter when tests run as root).
    """
    url = os.environ.get("TEST_DATABASE_URL")
    server = None
    if not url:
        import pgserver

        data_dir = Path(tempfile.mkdtemp(prefix="creatorscrape-test-pg-"))
        server = pgserver.get_server(data_dir, cleanup_mode="delete")
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.apply_compat(conn)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply_pending(conn)
    yield url
    if server is not None:
        server.cleanup()


@contextmanager
def app_for_tests(database_url: str, **overrides) -> Iterator[OpenAPI]:
    """An app on ``database_url`` for tests (``TESTING`` on, ``LOG_LEVEL`` WARNING), with
    ``overrides`` on top of that config; its database pool is closed on exit."""
    flask_app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **overrides}
    )
    try:
        yield flask_app
    finally:
        flask_app.extensions["db_pool"].close()


def fresh_client(flask_app: Flask) -> FlaskClient:
    """A test client of ``flask_app``, after resetting the shared rate-limit counters."""
    flask_app.extensions["rate_limits"].reset()
    return flask_app.test_client()


@contextmanager
def serve_live(flask_app: Flask) -> Iterator[str]:
    """Serve ``flask_app`` over real HTTP on 127.0.0.1 (a threaded server on a free port, so each
    request is its own thread); yields the base URL and shuts the server down on exit."""
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}


def bearer_for(flask_app: Flask, user_id: str, ttl: int = 3600) -> dict[str, str]:
    """An ``Authorization`` header with an access token for ``user_id`` minted by ``flask_app``
    (its JWT secret), valid ``ttl`` seconds."""
    with flask_app.app_context():
        return bearer(mint_access_token(user_id, None, ttl))


def assert_error(response, status: int, code: str) -> dict:
    """Assert ``response`` is the error envelope: ``status`` (the body in the failure message),
    a body with only ``error``, that ``code``, the response's ``X-Request-ID`` as ``request_id``
    and a non-empty ``message``. Returns the ``error`` object."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture(scope="session")
def app(database_url: str):
    """The Flask app on the test database, rate limits on with in-memory storage."""
    with app_for_tests(
        database_url, RATELIMIT_STORAGE_URI="memory://", DB_POOL_MAX_SIZE=20
    ) as flask_app:
        yield flask_app


@pytest.fixture
def client(app):
    """A test client with fresh rate-limit counters."""
    return fresh_client(app)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A superuser connection (autocommit, dict rows) for arranging and asserting."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _clean(database_url: str) -> Iterator[None]:
    """Every test starts from empty user data and a signup grant of 0."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("truncate auth.users cascade")
        for table in EXTRA_TABLES_TO_CLEAN:
            conn.execute(f"truncate {table} cascade")
        conn.execute("update private.settings set value = '0' where key = 'signup_credits'")
    yield


def make_user(db: psycopg.Connection, email: str | None = None, credits: int = 0) -> str:
    """Create a user through auth.users (as GoTrue would) and grant it ``credits`` (ledger reason
    admin_grant). Tests run with a signup grant of 0. Returns the user id as a string."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    row = db.execute("insert into auth.users (email) values (%s) returning id", (email,)).fetchone()
    user_id = str(row["id"])
    if credits:
        db.execute(
            "select public.grant_credits(%s, %s, 'admin_grant', %s)",
            (user_id, credits, f"test-{uuid.uuid4()}"),
        )
    return user_id


def make_key(db: psycopg.Connection, user_id: str, name: str = "test", **columns) -> str:
    """Insert an API key for ``user_id``; returns the plaintext. ``columns`` may set
    ``expires_at`` / ``revoked_at``."""
    new_key = generate_api_key()
    db.execute(
        "with k as (insert into public.api_keys (user_id, name, prefix, expires_at, revoked_at)"
        "           values (%s, %s, %s, %s, %s) returning id)"
        " insert into private.api_key_hashes (key_id, key_hash) select k.id, %s from k",
        (
            user_id,
            name,
            new_key.prefix,
            columns.get("expires_at"),
            columns.get("revoked_at"),
            new_key.key_hash,
        ),
    )
    return new_key.plaintext


def make_funded_key(db: psycopg.Connection, credits: int) -> tuple[str, str]:
    """A user granted ``credits`` with one API key: ``(user_id, plaintext key)``."""
    user_id = make_user(db, credits=credits)
    return user_id, make_key(db, user_id)


def ledger_sum(db: psycopg.Connection, user_id: str) -> int:
    row = db.execute(
        "select coalesce(sum(delta), 0)::bigint as s from public.credit_ledger where user_id = %s",
        (user_id,),
    ).fetchone()
    return row["s"]


def usage_ledger(db: psycopg.Connection, user_id: str) -> list[tuple[str, int]]:
    """The user's ``usage`` and ``refund`` ledger rows as ``(reason, delta)``, oldest first."""
    rows = db.execute(
        "select reason, delta from public.credit_ledger where user_id = %s"
        " and reason in ('usage', 'refund') order by id",
        (user_id,),
    ).fetchall()
    return [(r["reason"], r["delta"]) for r in rows]


def balance_of(db: psycopg.Connection, user_id: str) -> int:
    return db.execute(
        "select balance from public.credit_balances where user_id = %s", (user_id,)
    ).fetchone()["balance"]


@contextmanager
def as_user(conn: psycopg.Connection, user_id: str | None, role: str = "authenticated"):
    """Run inside a transaction as PostgREST does for a request: ``set local role`` and
    ``request.jwt.claims``. ``user_id=None`` with role ``anon`` is an anonymous request."""
    claims = {"role": role}
    if user_id:
        claims.update({"sub": user_id, "aud": "authenticated"})
    with conn.transaction(force_rollback=True):
        conn.execute(f"set local role {role}")
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        yield conn
