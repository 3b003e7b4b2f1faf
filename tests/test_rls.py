"""Row-level security and privileges, exercised exactly as PostgREST runs a request:
``set local role`` plus ``request.jwt.claims`` inside a transaction."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import as_user, make_key, make_user

USER_TABLES = ["public.profiles", "public.credit_balances", "public.credit_ledger"]


@pytest.fixture
def two_users(db):
    a = make_user(db, "a@example.com", credits=10)
    b = make_user(db, "b@example.com", credits=20)
    make_key(db, a, name="a-key")
    make_key(db, b, name="b-key")
    return a, b


@pytest.mark.parametrize("table", USER_TABLES)
def test_user_sees_only_own_rows(db, two_users, table):
    a, _ = two_users
    owner_column = "id" if table == "public.profiles" else "user_id"
    with as_user(db, a):
        rows = db.execute(f"select {owner_column} as owner from {table}").fetchall()
    assert rows
    assert {str(r["owner"]) for r in rows} == {a}


def test_user_sees_own_keys_but_not_hashes(db, two_users):
    a, _ = two_users
    with as_user(db, a):
        names = db.execute("select name, prefix from public.api_keys").fetchall()
    assert [r["name"] for r in names] == ["a-key"]
    assert names[0]["prefix"].startswith("cs_live_")
    with as_user(db, a):
        everything = db.execute("select * from public.api_keys").fetchall()
    assert [r["name"] for r in everything] == ["a-key"]
    assert "key_hash" not in everything[0]
    with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select key_hash from private.api_key_hashes")


@pytest.mark.parametrize("table", [*USER_TABLES, "public.api_keys"])
def test_anon_sees_nothing(db, two_users, table):
    with as_user(db, None, role="anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(f"select * from {table}")


@pytest.mark.parametrize(
    "statement",
    [
        "update public.credit_balances set balance = 1000000",
        "insert into public.credit_ledger (user_id, delta, balance_after, reason, ref)"
        " values (%(uid)s, 5, 5, 'purchase', 'forged')",
        "delete from public.credit_ledger",
        "update public.api_keys set revoked_at = now()",
        "update public.profiles set plan = 'pro'",
    ],
)
def test_authenticated_cannot_write_money_or_keys(db, two_users, statement):
    a, _ = two_users
    with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(statement, {"uid": a})
    assert (
        db.execute(
            "select balance from public.credit_balances where user_id = %s", (a,)
        ).fetchone()["balance"]
        == 10
    )


@pytest.mark.parametrize(
    "call",
    [
        "select public.grant_credits(%(uid)s, 100, 'purchase', 'x')",
        "select public.refund_credits('x')",
        "select public.refund_credits('x', 1, 'y')",
        "select public.spend_credits('x', 1, 'y')",
    ],
)
@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_api_roles_cannot_call_credit_functions(db, two_users, call, role):
    a, _ = two_users
    with (
        as_user(db, a if role == "authenticated" else None, role=role),
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        db.execute(call, {"uid": a})


def test_every_public_table_has_rls_enabled(db):
    rows = db.execute(
        "select c.relname, c.relrowsecurity from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'public' and c.relkind in ('r', 'p')"
    ).fetchall()
    assert rows
    assert [r["relname"] for r in rows if not r["relrowsecurity"]] == []


def test_security_definer_functions_pin_search_path(db):
    rows = db.execute(
        "select p.proname, p.proconfig from pg_proc p"
        " join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'private') and p.prosecdef"
    ).fetchall()
    assert {r["proname"] for r in rows} >= {
        "spend_credits",
        "refund_credits",
        "grant_credits",
        "handle_new_user",
    }
    assert all(r["proconfig"] == ['search_path=""'] for r in rows), rows


def test_admin_views_report_lifetime_totals(db, two_users):
    a, _ = two_users
    db.execute("select public.grant_credits(%s, 100, 'purchase', 'cs_1')", (a,))
    row = db.execute("select * from admin.credit_balances where user_id = %s", (a,)).fetchone()
    assert (row["balance"], row["lifetime_purchased"], row["lifetime_granted"]) == (110, 100, 10)
    assert row["lifetime_spent"] == 0
    with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select * from admin.credit_balances")


def test_admin_balances_net_out_refunded_purchases(db, two_users):
    a, _ = two_users
    db.execute("select public.grant_credits(%s, 100, 'purchase', 'cs_2')", (a,))
    db.execute("select public.revoke_credits(%s, 40, 'purchase_refund', 'ch_2:4000')", (a,))
    row = db.execute("select * from admin.credit_balances where user_id = %s", (a,)).fetchone()
    assert (row["balance"], row["lifetime_purchased"], row["lifetime_purchase_refunded"]) == (
        70,
        60,
        40,
    )
