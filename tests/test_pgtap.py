"""The pgTAP database tests (supabase/tests/*.sql), run with ``pg_prove`` as ``supabase test db``
runs them, on a throwaway PostgreSQL 15 cluster (Debian's ``postgresql-15``,
``postgresql-15-pgtap`` and ``libtap-parser-sourcehandler-pgtap-perl``; ``.ci/run`` installs
them). The cluster gets the Supabase-compatibility layer and every migration first, so this also
proves the migrations apply on 15 (the embedded server of the rest of the suite is 16).

Without those packages the module is skipped, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app import migrate

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PGTAP_CONTROL = Path("/usr/share/postgresql/15/extension/pgtap.control")
TESTS_DIR = migrate.ROOT / "supabase" / "tests"
TEST_FILES = sorted(TESTS_DIR.glob("*_test.sql"))
PORT = 5415  # only a Unix socket in a private directory: the number just names the socket

_missing = [
    str(path) for path in (PG_BIN / "initdb", PG_BIN / "pg_ctl", PGTAP_CONTROL) if not path.exists()
] + ([] if shutil.which("pg_prove") else ["pg_prove"])
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"pgTAP tests need {', '.join(_missing)} (see .ci/run)")
pytestmark = pytest.mark.skipif(
    bool(_missing), reason=f"not installed: {', '.join(_missing)} (see .ci/run)"
)


def _as_server_user(args: list[str]) -> list[str]:
    """``args`` run as the ``postgres`` system user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def pg15() -> Iterator[dict[str, str]]:
    """A PostgreSQL 15 cluster listening on a Unix socket only, with the compatibility layer,
    every migration and the pgtap extension (in ``extensions``, as on Supabase). Yields libpq
    parameters; the cluster is stopped and deleted afterwards."""
    base = Path(tempfile.mkdtemp(prefix="creatorscrape-pg15-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data = base / "data"
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        _as_server_user([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        **run,
    )
    options = f"-k {base} -p {PORT} -c listen_addresses='' -c fsync=off"
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        _as_server_user([*pg_ctl, "-w", "-l", str(base / "log"), "-o", options, "start"]), **run
    )
    params = {"host": str(base), "port": str(PORT), "user": "postgres", "dbname": "postgres"}
    try:
        with psycopg.connect(**params, autocommit=True) as conn:
            migrate.apply_compat(conn)
            migrate.apply_pending(conn)
            conn.execute("create extension pgtap with schema extensions")
        yield params
    finally:
        subprocess.run(
            _as_server_user([*pg_ctl, "-m", "fast", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def planned_tests(path: Path) -> int:
    """The N of the file's ``select plan(N)``."""
    return int(re.search(r"^select plan\((\d+)\);$", path.read_text(), re.MULTILINE).group(1))


def test_migrations_apply_on_postgres_15(pg15):
    with psycopg.connect(**pg15) as conn:
        version = conn.execute("show server_version_num").fetchone()[0]
        applied = [
            r[0]
            for r in conn.execute(
                "select version from supabase_migrations.schema_migrations order by version"
            )
        ]
    assert version.startswith("15")
    assert applied == [m.version for m in migrate.discover()]


def test_pg_prove_passes_every_pgtap_file_on_default_settings(pg15):
    """As ``supabase test db`` would on a fresh project: default settings (25 signup credits),
    every file planned, passed, and rolled back."""
    assert [p.name for p in TEST_FILES] == [
        "browser_views_test.sql",
        "credits_test.sql",
        "privileges_test.sql",
        "rls_test.sql",
    ]
    with psycopg.connect(**pg15) as conn:
        setting = conn.execute(
            "select value from private.settings where key = 'signup_credits'"
        ).fetchone()[0]
    assert setting == 25

    result = subprocess.run(
        ["pg_prove", "-h", pg15["host"], "-p", pg15["port"], "-U", "postgres", "-d", "postgres"]
        + [str(p) for p in TEST_FILES],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    expected = sum(planned_tests(p) for p in TEST_FILES)
    assert expected == 192
    assert f"Files={len(TEST_FILES)}, Tests={expected}," in result.stdout
    assert result.stdout.rstrip().endswith("Result: PASS")
    with psycopg.connect(**pg15) as conn:
        left = conn.execute("select count(*) from auth.users where email like 'sqltest-%'")
        assert left.fetchone()[0] == 0
