"""``flask --app wsgi db migrate`` through a transaction-mode pooler: a real PgBouncer
(``pool_mode = transaction``, no prepared-statement support) started by the test in front of the
test Postgres, on a free loopback port. Run twice: the second run used to fail with
``prepared statement "_pg3_0" does not exist``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from app import migrate

ROOT = Path(__file__).resolve().parent.parent
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
DB_NAME = "migrate_pooler_test"

if not Path(PGBOUNCER).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs pgbouncer (apt-get install pgbouncer; see .ci/run)")
    pytest.skip(
        "pgbouncer is not installed (Debian: apt-get install pgbouncer)", allow_module_level=True
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_database(database_url) -> Iterator[dict]:
    """An empty database beside the test one, with only the embedded compatibility layer."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB_NAME}")
        conn.execute(f"create database {DB_NAME}")
    params = {**conninfo_to_dict(database_url), "dbname": DB_NAME}
    with psycopg.connect(**params, autocommit=True) as conn:
        migrate.apply_compat(conn)
    yield params
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB_NAME} with (force)")


@pytest.fixture
def pgbouncer(fresh_database) -> Iterator[str]:
    """PgBouncer in transaction mode on a free 127.0.0.1 port; yields its URL."""
    socket_dir = fresh_database["host"]
    owner = Path(socket_dir).owner()  # pgbouncer refuses root; run it as the server's user
    workdir = Path(tempfile.mkdtemp(prefix="creatorscrape-pgbouncer-"))
    shutil.chown(workdir, owner)
    port = free_port()
    config = workdir / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"{DB_NAME} = host={socket_dir} port={fresh_database.get('port', 5432)}"
        f" dbname={DB_NAME} user={fresh_database.get('user', 'postgres')}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        "default_pool_size = 4\nmin_pool_size = 2\nmax_client_conn = 50\n"
        "server_reset_query =\nignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
    )
    args = [PGBOUNCER, str(config)]
    if os.geteuid() == 0:
        args[1:1] = ["-u", owner]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"postgresql://postgres@127.0.0.1:{port}/{DB_NAME}"
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("select 1")
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"pgbouncer did not start: {process.stderr.read()!r}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def flask_migrate(url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SUPABASE_JWT_SECRET": "test-only-secret-for-the-migrate-command",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_db_migrate_runs_again_and_again_through_a_transaction_pooler(pgbouncer, fresh_database):
    versions = [m.version for m in migrate.discover()]
    first = flask_migrate(pgbouncer)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.strip() == f"applied: {', '.join(versions)}"
    for _ in range(2):
        again = flask_migrate(pgbouncer)
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stdout.strip() == "database is up to date"
    with psycopg.connect(**fresh_database) as conn:
        recorded = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        ).fetchall()
        queue = conn.execute("select to_regclass('procrastinate.procrastinate_jobs')").fetchone()
    assert [r[0] for r in recorded] == versions
    assert queue[0] is not None
