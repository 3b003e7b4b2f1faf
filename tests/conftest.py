"""Test fixtures: one real Postgres per test session, clean tables for every test.

The database is the embedded server (pgserver) in a temporary directory, with the
Supabase-compatibility layer and every migration applied, unless ``TEST_DATABASE_URL`` points at
another disposable Postgres (which must already carry the compatibility layer or be Supabase).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from app import create_app, migrate
from app.limits import limiter
from app.security import generate_api_key

# Tables other than auth.users' cascade that tests must empty; later features append theirs.
EXTRA_TABLES_TO_CLEAN: list[str] = [
    "public.creator_profiles",
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


@pytest.fixture(scope="session")
def app(database_url: str):
    """The Flask app on the test database, rate limits on with in-memory storage."""
    flask_app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "DB_POOL_MAX_SIZE": 20,
            "LOG_LEVEL": "WARNING",
        }
    )
    yield flask_app
    flask_app.extensions["db_pool"].close()


@pytest.fixture
def client(app):
    """A test client with fresh rate-limit counters."""
    limiter.reset()
    return app.test_client()


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
        "insert into public.api_keys (user_id, name, key_hash, prefix, expires_at, revoked_at)"
        " values (%s, %s, %s, %s, %s, %s)",
        (
            user_id,
            name,
            new_key.key_hash,
            new_key.prefix,
            columns.get("expires_at"),
            columns.get("revoked_at"),
        ),
    )
    return new_key.plaintext


def ledger_sum(db: psycopg.Connection, user_id: str) -> int:
    row = db.execute(
        "select coalesce(sum(delta), 0)::bigint as s from public.credit_ledger where user_id = %s",
        (user_id,),
    ).fetchone()
    return row["s"]


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
