"""Ledger reports, user-inserted key revocations and sequence privileges (issue 8, part 4).

Run as PostgREST runs a browser's request (``set local role`` + ``request.jwt.claims``) on the
real database."""

from __future__ import annotations

import psycopg
import pytest

from app.security import hash_api_key
from tests.conftest import as_user, make_key, make_user


def test_admin_balance_columns_add_up_to_the_balance_for_every_reason(db):
    user = make_user(db, credits=100)  # admin_grant
    db.execute("select public.grant_credits(%s, 50, 'purchase', 'cs_add_up')", (user,))
    db.execute("select public.grant_credits(%s, 7, 'goodwill', 'ticket-1')", (user,))
    key_hash = hash_api_key(make_key(db, user))
    db.execute("select * from public.spend_credits(%s, 10, 'req_add_up')", (key_hash,))
    db.execute("select * from public.refund_credits('req_add_up', 3, 'req_add_up:part')")
    db.execute("select public.revoke_credits(%s, 5, 'purchase_refund', 'ch_add_up:500')", (user,))
    db.execute("select public.revoke_credits(%s, 20, 'admin_revoke', 'abuse-1')", (user,))
    db.execute("select public.revoke_credits(%s, 4, 'chargeback_fee', 'dp_1')", (user,))

    row = db.execute("select * from admin.credit_balances where user_id = %s", (user,)).fetchone()
    assert row["balance"] == 100 + 50 + 7 - 10 + 3 - 5 - 20 - 4
    assert (row["lifetime_purchased"], row["lifetime_granted"]) == (45, 107)
    assert (row["lifetime_spent"], row["lifetime_revoked"]) == (7, 24)
    assert row["lifetime_purchase_refunded"] == 5
    total = (
        row["lifetime_purchased"]
        + row["lifetime_granted"]
        - row["lifetime_spent"]
        - row["lifetime_revoked"]
    )
    assert total == row["balance"]


def _own_key(db, user: str, n: int) -> str:
    return db.execute(
        "insert into public.api_keys (user_id, name, prefix)"
        " values (%s, %s, 'cs_live_xxxx') returning id",
        (user, f"k{n}"),
    ).fetchone()["id"]


@pytest.mark.parametrize("effective_at", ["'infinity'", "now() + interval '10 years'"])
def test_user_inserted_revocation_takes_effect_now(db, effective_at):
    user = make_user(db)
    with as_user(db, user):
        key_id = _own_key(db, user, 0)
        db.execute(
            "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
            f" values (%s, %s, 'rotate', {effective_at})",
            (key_id, user),
        )
        row = db.execute(
            "select revoked_at <= now() as revoked from public.api_keys where id = %s", (key_id,)
        ).fetchone()
        assert row["revoked"] is True


def test_far_future_revocations_do_not_lift_the_usable_key_limit(db):
    """The reported exploit: mark 10 keys as 'rotating' forever, then create 10 more."""
    user = make_user(db)
    with as_user(db, user):
        for n in range(10):
            key_id = _own_key(db, user, n)
            db.execute(
                "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
                " values (%s, %s, 'rotate', 'infinity')",
                (key_id, user),
            )
        for n in range(10, 20):
            _own_key(db, user, n)
        with pytest.raises(psycopg.Error) as excinfo, db.transaction():
            _own_key(db, user, 20)
        assert excinfo.value.sqlstate == "CS010"
        usable = db.execute(
            "select count(*) as n from public.api_keys"
            " where revoked_at is null or revoked_at > now()"
        ).fetchone()["n"]
    assert usable == 10


def test_no_public_sequence_is_usable_by_the_api_roles(db):
    rows = db.execute(
        "select c.oid::regclass::text as seq, r.role"
        "  from pg_catalog.pg_class c"
        "  join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
        " cross join (values ('anon'), ('authenticated')) as r (role)"
        " where c.relkind = 'S' and n.nspname = 'public'"
        "   and (has_sequence_privilege(r.role, c.oid, 'usage')"
        "        or has_sequence_privilege(r.role, c.oid, 'select')"
        "        or has_sequence_privilege(r.role, c.oid, 'update'))"
    ).fetchall()
    sequences = db.execute(
        "select count(*) as n from pg_catalog.pg_class c"
        " join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind = 'S' and n.nspname = 'public'"
    ).fetchone()["n"]
    assert sequences > 0
    assert rows == []


def test_sequences_created_later_are_not_granted_to_the_api_roles(db):
    with db.transaction(force_rollback=True):
        db.execute("create sequence public.issue8_later_seq")
        row = db.execute(
            "select has_sequence_privilege('anon', 'public.issue8_later_seq', 'usage') as anon,"
            " has_sequence_privilege('authenticated', 'public.issue8_later_seq', 'usage') as auth"
        ).fetchone()
    assert (row["anon"], row["auth"]) == (False, False)
