"""Supabase-native parts of the schema checked against the catalog: the Realtime publication of
job progress (a no-op on plain Postgres, two tables on Supabase) and the comments admins read in
Studio."""

from __future__ import annotations

import pytest

from app import migrate

REALTIME_MIGRATION = migrate.MIGRATIONS_DIR / "20261129120100_realtime_job_progress.sql"

PUBLISHED = """
select schemaname || '.' || tablename as t
  from pg_catalog.pg_publication_tables
 where pubname = 'supabase_realtime'
 order by 1
"""


def test_realtime_migration_is_a_no_op_on_plain_postgres(db):
    """The test database is plain Postgres: the migration ran and created nothing."""
    applied = db.execute(
        "select 1 from supabase_migrations.schema_migrations where version = '20261129120100'"
    ).fetchone()
    assert applied is not None
    with db.transaction(force_rollback=True):
        db.execute(REALTIME_MIGRATION.read_text())
        assert db.execute("select pubname from pg_catalog.pg_publication").fetchall() == []


def test_realtime_migration_publishes_jobs_and_items_where_supabase_realtime_exists(db):
    """As on Supabase: an (empty) supabase_realtime publication exists before the migrations."""
    with db.transaction(force_rollback=True):
        db.execute("create publication supabase_realtime")
        db.execute(REALTIME_MIGRATION.read_text())
        assert [r["t"] for r in db.execute(PUBLISHED)] == ["public.job_items", "public.jobs"]
        db.execute(REALTIME_MIGRATION.read_text())  # running it again changes nothing
        assert [r["t"] for r in db.execute(PUBLISHED)] == ["public.job_items", "public.jobs"]


def test_realtime_migration_leaves_a_for_all_tables_publication_alone(db):
    with db.transaction(force_rollback=True):
        db.execute("create publication supabase_realtime for all tables")
        db.execute(REALTIME_MIGRATION.read_text())
        assert db.execute(
            "select puballtables from pg_catalog.pg_publication where pubname = 'supabase_realtime'"
        ).fetchone() == {"puballtables": True}


# -- comments for Studio ---------------------------------------------------------------------------

OUR_SCHEMAS = ["public", "private", "admin"]
# Admin-facing tables whose every column must say what it is, beyond the admin and private
# schemas (where every column must).
ADMIN_TABLES = [
    "public.credit_shortfalls",
    "public.stripe_disputes",
    "public.stripe_events",
    "public.stripe_fulfilment_alerts",
]
# Columns whose meaning the name says (ids, owners, timestamps of the row itself).
OBVIOUS = {"id", "user_id", "key_id", "job_id", "created_at", "updated_at"}


def test_every_schema_table_view_and_function_of_ours_has_a_comment(db):
    missing = db.execute(
        """
        select 'schema ' || n.nspname as object from pg_catalog.pg_namespace n
         where n.nspname = any(%(schemas)s) and n.nspname <> 'public'
           and pg_catalog.obj_description(n.oid, 'pg_namespace') is null
        union all
        select c.oid::regclass::text from pg_catalog.pg_class c
         where c.relnamespace::regnamespace::text = any(%(schemas)s)
           and c.relkind in ('r', 'p', 'v', 'm')
           and pg_catalog.obj_description(c.oid, 'pg_class') is null
        union all
        select p.oid::regprocedure::text from pg_catalog.pg_proc p
         where p.pronamespace::regnamespace::text = any(%(schemas)s)
           and not exists (select 1 from pg_catalog.pg_depend d
                            where d.objid = p.oid and d.deptype = 'e')
           and pg_catalog.obj_description(p.oid, 'pg_proc') is null
        order by 1
        """,
        {"schemas": OUR_SCHEMAS},
    ).fetchall()
    assert missing == []


def test_every_admin_facing_column_has_a_comment(db):
    missing = db.execute(
        """
        select c.oid::regclass::text || '.' || a.attname as col
          from pg_catalog.pg_class c
          join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0
                                        and not a.attisdropped
         where c.relkind in ('r', 'p', 'v', 'm')
           and (c.relnamespace in ('admin'::regnamespace, 'private'::regnamespace)
                or c.oid = any(%(tables)s::regclass[]))
           and not (a.attname = any(%(obvious)s))
           and pg_catalog.col_description(c.oid, a.attnum) is null
         order by 1
        """,
        {"tables": ADMIN_TABLES, "obvious": sorted(OBVIOUS)},
    ).fetchall()
    assert missing == []


@pytest.mark.parametrize(
    ("relation", "words"),
    [
        ("admin.credit_balances", "credit_ledger"),
        ("admin.daily_usage", "public.daily_usage"),
        ("private.settings", "signup_credits"),
        ("public.credit_shortfalls", "resolved_at"),
        ("public.stripe_disputes", "suspended"),
        ("public.stripe_events", "outcome = 'unmatched'"),
        ("public.stripe_fulfilment_alerts", "resolved_at"),
    ],
)
def test_admin_objects_say_how_to_use_them(db, relation, words):
    comment = db.execute(
        "select pg_catalog.obj_description(%s::regclass, 'pg_class') as c", (relation,)
    ).fetchone()["c"]
    assert words in comment
