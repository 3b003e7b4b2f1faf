"""Apply ``supabase/migrations/*.sql`` and record them the way the Supabase CLI does.

Applied versions go to ``supabase_migrations.schema_migrations`` (``version``, ``name``,
``statements``), the table ``supabase db push`` reads, so this runner and the CLI agree about what
is applied. Each file runs in its own transaction; an advisory lock keeps two processes from
migrating at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
COMPAT_SQL = Path(__file__).resolve().parent / "embedded" / "supabase_compat.sql"

_FILE_RE = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_283_412_001  # arbitrary, constant: pg_advisory_xact_lock key for migrations


def _lock(conn: psycopg.Connection) -> None:
    """Hold the migration lock until the current transaction ends (one migrator at a time)."""
    conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))


@dataclass(frozen=True)
class Migration:
    """One migration file: ``version`` is its 14-digit timestamp, ``name`` the rest."""

    version: str
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migration files in ``directory``, ordered by version.

    Raises ``ValueError`` for a ``.sql`` file whose name is not ``YYYYMMDDHHMMSS_name.sql``.
    """
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be YYYYMMDDHHMMSS_name.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path))
    return found


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection for migrating ``url``. Prepared statements are off whatever the
    port: the runner repeats few statements, and a transaction-mode pooler (Supabase's 6543,
    PgBouncer with ``pool_mode = transaction``) may run the next transaction on another server
    connection, where psycopg's prepared ``_pg3_*`` statements do not exist."""
    return psycopg.connect(url, autocommit=True, prepare_threshold=None)


def apply_compat(conn: psycopg.Connection) -> None:
    """Apply the Supabase-compatibility layer (embedded Postgres only, never on Supabase)."""
    with conn.transaction():
        _lock(conn)
        conn.execute(COMPAT_SQL.read_text())


def apply_pending(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet recorded; return the versions applied now, in order.

    ``conn`` must be in autocommit mode. A failing file rolls back alone and raises.
    """
    with conn.transaction():
        _lock(conn)
        conn.execute("create schema if not exists supabase_migrations")
        conn.execute(
            "create table if not exists supabase_migrations.schema_migrations ("
            " version text primary key, statements text[], name text)"
        )
    applied_now = []
    for migration in discover(directory):
        with conn.transaction():
            _lock(conn)
            done = conn.execute(
                "select 1 from supabase_migrations.schema_migrations where version = %s",
                (migration.version,),
            ).fetchone()
            if done:
                continue
            script = migration.path.read_text()
            conn.execute(script)
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements)"
                " values (%s, %s, %s)",
                (migration.version, migration.name, [script]),
            )
        applied_now.append(migration.version)
    apply_queue_schema(conn)
    return applied_now


QUEUE_SCHEMA = "procrastinate"


def apply_queue_schema(conn: psycopg.Connection) -> bool:
    """Install the job queue's tables (procrastinate's ``schema.sql``) in the ``procrastinate``
    schema, once: only when ``procrastinate.procrastinate_jobs`` does not exist yet. Returns True
    when it installed them now.

    Every run also pins ``search_path = procrastinate, pg_catalog`` on the schema's functions
    (they use unqualified names, and callers such as the API's deferral run with another path)
    and keeps the schema closed to ``anon``/``authenticated``: it is not exposed through the
    Supabase Data API. The installed version is recorded in the schema's comment, not in
    ``supabase_migrations`` (whose versions the Supabase CLI expects to find as files). Upgrading
    procrastinate means applying its ``sql/migrations`` files to this schema by hand.
    """
    from procrastinate import __version__ as procrastinate_version
    from procrastinate.schema import SchemaManager

    with conn.transaction():
        _lock(conn)
        installed = conn.execute(
            "select to_regclass('procrastinate.procrastinate_jobs') is not null"
        ).fetchone()[0]
        if not installed:
            conn.execute("create schema if not exists procrastinate")
            conn.execute("set local search_path = procrastinate, pg_catalog")
            conn.execute(SchemaManager.get_schema())
            conn.execute("reset search_path")
            conn.execute(
                sql.SQL("comment on schema procrastinate is {}").format(
                    sql.Literal(
                        f"Job queue tables of procrastinate {procrastinate_version} (installed by "
                        "app/migrate.py). Not exposed through the Data API."
                    )
                )
            )
        functions = conn.execute(
            "select p.oid::regprocedure::text from pg_catalog.pg_proc p"
            " where p.pronamespace = 'procrastinate'::regnamespace"
            "   and not coalesce(p.proconfig, '{}')"
            "           @> array['search_path=procrastinate, pg_catalog']"
        ).fetchall()
        for (signature,) in functions:
            conn.execute(
                sql.SQL("alter function {} set search_path = procrastinate, pg_catalog").format(
                    sql.SQL(signature)
                )
            )
        conn.execute("revoke all on schema procrastinate from public, anon, authenticated")
        conn.execute(
            "revoke all on all tables in schema procrastinate from public, anon, authenticated"
        )
        conn.execute(
            "revoke all on all functions in schema procrastinate from public, anon, authenticated"
        )
        conn.execute("grant usage on schema procrastinate to service_role")
        conn.execute("grant all on all tables in schema procrastinate to service_role")
        conn.execute("grant all on all sequences in schema procrastinate to service_role")
    return not installed
