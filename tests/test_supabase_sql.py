"""Run the database tests in supabase/tests/*.sql against the test database.

Each file is one transaction that raises on a failed check and rolls itself back; the same files
run against a Supabase project with psql (see the header of each file).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

SQL_TESTS = sorted((Path(__file__).resolve().parent.parent / "supabase" / "tests").glob("*.sql"))


@pytest.mark.parametrize("path", SQL_TESTS, ids=[p.name for p in SQL_TESTS])
def test_sql_file_passes_and_leaves_no_rows(database_url, path):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(path.read_text())
        leftover = conn.execute(
            "select count(*) from auth.users where email like 'sqltest-%%'"
        ).fetchone()[0]
    assert leftover == 0


def test_there_are_sql_tests():
    assert [p.name for p in SQL_TESTS] != []
