"""Schema invariants the Supabase database linter checks, as plain catalog queries.

Covers our schemas (public, private, admin); the procrastinate queue schema is installed from the
procrastinate package and is not ours to lint.
"""

from __future__ import annotations

import re

import pytest

OUR_SCHEMAS = ("public", "private", "admin")

# An index "covers" a foreign key when its leading key columns are exactly the foreign key's
# columns (in any order) and it is valid; a partial index qualifies only when its predicate is
# "<column> is not null" on one of those columns (implied by the foreign key's own lookup).
FOREIGN_KEYS_WITHOUT_INDEX = """
select c.conrelid::regclass::text as table_name, c.conname
  from pg_catalog.pg_constraint c
  join pg_catalog.pg_class t on t.oid = c.conrelid
  join pg_catalog.pg_namespace n on n.oid = t.relnamespace
 where c.contype = 'f'
   and n.nspname = any(%(schemas)s)
   and not exists (
     select 1
       from pg_catalog.pg_index i
      where i.indrelid = c.conrelid
        and i.indisvalid
        and (
          select array_agg(k order by k)
            from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) as k
        ) = (select array_agg(k order by k) from unnest(c.conkey) as k)
        and (
          i.indpred is null
          or exists (
            select 1
              from unnest(c.conkey) as k
              join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k
             where pg_catalog.pg_get_expr(i.indpred, i.indrelid)
                   in (format('(%%I IS NOT NULL)', a.attname), format('%%I IS NOT NULL', a.attname))
          )
        )
   )
 order by 1, 2
"""


def test_every_foreign_key_has_a_covering_index(db):
    rows = db.execute(FOREIGN_KEYS_WITHOUT_INDEX, {"schemas": list(OUR_SCHEMAS)}).fetchall()
    assert rows == []


def test_credit_ledger_api_key_fk_is_indexed(db):
    """The one the linter found: deleting an API key must not scan the whole ledger."""
    row = db.execute(
        "select pg_catalog.pg_get_indexdef(i.indexrelid) as def"
        "  from pg_catalog.pg_index i"
        " where i.indexrelid = 'public.credit_ledger_api_key_id_idx'::regclass"
    ).fetchone()
    assert row["def"].endswith("(api_key_id) WHERE (api_key_id IS NOT NULL)")


def test_every_function_pins_an_empty_search_path(db):
    rows = db.execute(
        """
        select p.oid::regprocedure::text as function, p.proconfig
          from pg_catalog.pg_proc p
          join pg_catalog.pg_namespace n on n.oid = p.pronamespace
         where n.nspname = any(%(schemas)s)
           and not exists (select 1 from pg_catalog.pg_depend d
                            where d.objid = p.oid and d.deptype = 'e')
           and not coalesce(p.proconfig, '{}') @> array['search_path=""']
         order by 1
        """,
        {"schemas": list(OUR_SCHEMAS)},
    ).fetchall()
    assert rows == []


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_no_security_definer_function_is_executable_by_api_roles(db, role):
    rows = db.execute(
        """
        select p.oid::regprocedure::text as function
          from pg_catalog.pg_proc p
          join pg_catalog.pg_namespace n on n.oid = p.pronamespace
         where n.nspname = any(%(schemas)s)
           and p.prosecdef
           and pg_catalog.has_function_privilege(%(role)s, p.oid, 'EXECUTE')
         order by 1
        """,
        {"schemas": list(OUR_SCHEMAS), "role": role},
    ).fetchall()
    assert rows == []


def test_every_public_table_has_rls_and_a_policy_or_is_documented_service_only(db):
    rows = db.execute(
        """
        select c.oid::regclass::text as table_name,
               c.relrowsecurity as rls,
               exists (select 1 from pg_catalog.pg_policy p where p.polrelid = c.oid) as has_policy,
               coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '') as comment,
               pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')
                 or pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT')
                 as api_readable
          from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p')
         order by 1
        """
    ).fetchall()
    assert rows
    assert [r["table_name"] for r in rows if not r["rls"]] == []
    service_only = [r for r in rows if not r["has_policy"]]
    undocumented = [r["table_name"] for r in service_only if "Service-only" not in r["comment"]]
    assert undocumented == []
    # A table without policies must not be readable through the Data API roles either.
    assert [r["table_name"] for r in service_only if r["api_readable"]] == []


def test_stripe_events_is_documented_service_only(db):
    comment = db.execute(
        "select pg_catalog.obj_description('public.stripe_events'::regclass, 'pg_class') as c"
    ).fetchone()["c"]
    assert comment.startswith("Every Stripe webhook event processed, once")
    assert "Service-only" in comment


def test_policies_wrap_auth_functions_in_a_select(db):
    """(select auth.uid()) is evaluated once per statement; bare auth.uid() once per row."""
    with db.transaction():
        # Deparse with every name schema-qualified, whatever the session's search_path.
        db.execute("set local search_path = ''")
        rows = db.execute(
            """
            select schemaname, tablename, policyname,
                   coalesce(qual, '') || ' ' || coalesce(with_check, '') as expr
              from pg_catalog.pg_policies
             where schemaname = any(%(schemas)s)
            """,
            {"schemas": list(OUR_SCHEMAS)},
        ).fetchall()
    assert rows
    call = r"auth\.(uid|jwt|role|email)\(\)"
    bare = [
        (r["schemaname"], r["tablename"], r["policyname"])
        for r in rows
        if re.search(call, re.sub(r"(?i)select\s+" + call, "", r["expr"]))
    ]
    assert bare == []
