"""The SQL credit functions against a real Postgres: semantics, errors, idempotency, concurrency."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from app.security import hash_api_key
from tests.conftest import balance_of, ledger_sum, make_key, make_user


def spend(db, key: str, cost: int, ref: str | None = None) -> dict:
    return db.execute(
        "select * from public.spend_credits(%s, %s, %s)",
        (hash_api_key(key), cost, ref or str(uuid.uuid4())),
    ).fetchone()


def test_signup_trigger_creates_profile_balance_and_configured_grant(db):
    db.execute("update private.settings set value = '7' where key = 'signup_credits'")
    user_id = make_user(db, "new@example.com")
    profile = db.execute("select * from public.profiles where id = %s", (user_id,)).fetchone()
    assert profile["email"] == "new@example.com"
    assert profile["plan"] == "free"
    assert balance_of(db, user_id) == 7
    rows = db.execute(
        "select delta, balance_after, reason, ref from public.credit_ledger where user_id = %s",
        (user_id,),
    ).fetchall()
    assert rows == [{"delta": 7, "balance_after": 7, "reason": "signup_grant", "ref": user_id}]


def test_signup_grant_of_zero_writes_no_ledger_row(db):
    user_id = make_user(db)
    assert balance_of(db, user_id) == 0
    assert ledger_sum(db, user_id) == 0


def test_spend_deducts_writes_ledger_and_returns_principal(db):
    user_id = make_user(db, credits=10)
    key = make_key(db, user_id)
    row = spend(db, key, 3, "req_1")
    assert str(row["user_id"]) == user_id
    assert row["plan"] == "free"
    assert row["balance"] == 7
    ledger = db.execute(
        "select delta, balance_after, reason, ref, api_key_id from public.credit_ledger"
        " where user_id = %s and reason = 'usage'",
        (user_id,),
    ).fetchone()
    assert ledger["delta"] == -3
    assert ledger["balance_after"] == 7
    assert ledger["ref"] == "req_1"
    assert ledger["api_key_id"] == row["api_key_id"]
    last_used = db.execute(
        "select last_used_at from public.api_keys where id = %s", (row["api_key_id"],)
    ).fetchone()["last_used_at"]
    assert last_used is not None


def test_spend_zero_authenticates_without_ledger_row(db):
    user_id = make_user(db, credits=5)
    key = make_key(db, user_id)
    assert spend(db, key, 0)["balance"] == 5
    count = db.execute(
        "select count(*) as n from public.credit_ledger where reason = 'usage'"
    ).fetchone()["n"]
    assert count == 0


@pytest.mark.parametrize(
    ("columns", "sqlstate", "detail"),
    [
        ({}, "CS001", "unknown"),
        ({"revoked_at": "now()"}, "CS002", "revoked"),
        ({"expires_at": "now()"}, "CS003", "expired"),
    ],
)
def test_spend_refuses_bad_keys_with_distinct_errors(db, columns, sqlstate, detail):
    user_id = make_user(db, credits=5)
    if columns:
        key = make_key(
            db,
            user_id,
            **{k: db.execute(f"select {v} as t").fetchone()["t"] for k, v in columns.items()},
        )
    else:
        key = "cs_live_unknown"
    with pytest.raises(psycopg.Error) as info:
        spend(db, key, 1)
    assert info.value.sqlstate == sqlstate
    assert info.value.diag.message_detail == detail
    assert balance_of(db, user_id) == 5


def test_spend_insufficient_credits_reports_required_and_balance(db):
    user_id = make_user(db, credits=2)
    key = make_key(db, user_id)
    with pytest.raises(psycopg.Error) as info:
        spend(db, key, 3)
    assert info.value.sqlstate == "CS004"
    assert info.value.diag.message_detail == '{"required" : 3, "balance" : 2}'
    assert balance_of(db, user_id) == 2
    assert ledger_sum(db, user_id) == 2


def test_spend_refuses_suspended_account(db):
    user_id = make_user(db, credits=2)
    key = make_key(db, user_id)
    db.execute("update public.profiles set suspended_at = now() where id = %s", (user_id,))
    with pytest.raises(psycopg.Error) as info:
        spend(db, key, 1)
    assert info.value.sqlstate == "CS005"
    assert balance_of(db, user_id) == 2


def test_spend_with_duplicate_ref_changes_nothing(db):
    user_id = make_user(db, credits=5)
    key = make_key(db, user_id)
    spend(db, key, 1, "req_dup")
    with pytest.raises(psycopg.errors.UniqueViolation):
        spend(db, key, 1, "req_dup")
    assert balance_of(db, user_id) == 4
    assert ledger_sum(db, user_id) == 4


def test_refund_returns_credits_once(db):
    user_id = make_user(db, credits=5)
    key = make_key(db, user_id)
    spend(db, key, 2, "req_r")
    first = db.execute("select * from public.refund_credits('req_r')").fetchone()
    second = db.execute("select * from public.refund_credits('req_r')").fetchone()
    assert (first["applied"], first["refunded"], first["balance"]) == (True, 2, 5)
    assert (second["applied"], second["refunded"], second["balance"]) == (False, 0, 5)
    assert ledger_sum(db, user_id) == 5


def test_partial_refunds_are_capped_by_the_charge(db):
    user_id = make_user(db, credits=10)
    key = make_key(db, user_id)
    spend(db, key, 3, "job_1")
    for item in range(5):
        db.execute("select public.refund_credits('job_1', 1, %s)", (f"job_1:item:{item}",))
    # replaying an item refund changes nothing
    db.execute("select public.refund_credits('job_1', 1, 'job_1:item:0')")
    rest = db.execute("select * from public.refund_credits('job_1')").fetchone()
    assert rest["applied"] is False
    assert balance_of(db, user_id) == 10
    refunds = db.execute(
        "select count(*) as n, sum(delta) as s from public.credit_ledger where reason = 'refund'"
    ).fetchone()
    assert (refunds["n"], refunds["s"]) == (3, 3)


def test_refund_of_unknown_ref_is_an_error(db):
    with pytest.raises(psycopg.Error) as info:
        db.execute("select public.refund_credits('nope')")
    assert info.value.sqlstate == "CS007"


def test_grant_is_idempotent_by_reason_and_ref(db):
    user_id = make_user(db)
    first = db.execute(
        "select * from public.grant_credits(%s, 100, 'purchase', 'cs_test_1')", (user_id,)
    ).fetchone()
    again = db.execute(
        "select * from public.grant_credits(%s, 100, 'purchase', 'cs_test_1')", (user_id,)
    ).fetchone()
    assert (first["applied"], first["balance"]) == (True, 100)
    assert (again["applied"], again["balance"], again["ledger_id"]) == (
        False,
        100,
        first["ledger_id"],
    )
    assert ledger_sum(db, user_id) == 100


@pytest.mark.parametrize(("amount", "reason"), [(0, "purchase"), (-5, "purchase"), (5, "usage")])
def test_grant_rejects_bad_input_and_changes_nothing(db, amount, reason):
    user_id = make_user(db)
    with pytest.raises(psycopg.Error) as info:
        db.execute("select public.grant_credits(%s, %s, %s, 'x')", (user_id, amount, reason))
    assert info.value.sqlstate == "22023"
    assert balance_of(db, user_id) == 0


def _parallel(database_url: str, n_threads: int, work) -> list:
    """Run ``work(conn, thread_index)`` on ``n_threads`` threads, each with its own connection,
    released together by a barrier. Returns every thread's result list, flattened."""
    barrier = threading.Barrier(n_threads)
    results: list = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
                barrier.wait()
                out = work(conn, index)
            with lock:
                results.extend(out)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_concurrent_spends_never_overdraw(db, database_url):
    user_id = make_user(db, credits=50)
    key_hash = hash_api_key(make_key(db, user_id))

    def work(conn, index):
        outcomes = []
        for call in range(10):
            try:
                conn.execute(
                    "select * from public.spend_credits(%s, 1, %s)",
                    (key_hash, f"t{index}-c{call}"),
                )
                outcomes.append("ok")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate)
        return outcomes

    outcomes = _parallel(database_url, 32, work)
    assert len(outcomes) == 320
    assert outcomes.count("ok") == 50
    assert outcomes.count("CS004") == 270
    assert balance_of(db, user_id) == 0
    assert ledger_sum(db, user_id) == 0
    usage = db.execute(
        "select count(*) as n from public.credit_ledger where reason = 'usage'"
    ).fetchone()["n"]
    assert usage == 50


def test_concurrent_duplicate_grants_apply_once(db, database_url):
    user_id = make_user(db)

    def work(conn, index):
        row = conn.execute(
            "select applied from public.grant_credits(%s, 500, 'purchase', 'cs_test_same')",
            (user_id,),
        ).fetchone()
        return [row["applied"]]

    applied = _parallel(database_url, 16, work)
    assert applied.count(True) == 1
    assert balance_of(db, user_id) == 500
    assert ledger_sum(db, user_id) == 500


def test_concurrent_duplicate_refunds_apply_once(db, database_url):
    user_id = make_user(db, credits=10)
    key = make_key(db, user_id)
    spend(db, key, 4, "req_concurrent")

    def work(conn, index):
        full = conn.execute("select applied from public.refund_credits('req_concurrent')")
        partial = conn.execute(
            "select applied from public.refund_credits('req_concurrent', 1, %s)",
            (f"item-{index % 2}",),
        )
        return [full.fetchone()["applied"], partial.fetchone()["applied"]]

    _parallel(database_url, 16, work)
    assert balance_of(db, user_id) == 10
    assert ledger_sum(db, user_id) == 10
    refunded = db.execute(
        "select sum(delta) as s from public.credit_ledger where reason = 'refund'"
    ).fetchone()["s"]
    assert refunded == 4
