"""Paid lookups (issue 8, parts 1 and 2; issue 11's one round trip for a cache hit): the lookup
history and what a user may read of it, the cache's identity (origin, query), the settled marker
and the orphan sweep, on the real database with saved pages served by a local HTTP server."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from app.security import hash_api_key
from tests.conftest import (
    app_for_tests,
    as_user,
    balance_of,
    fresh_client,
    ledger_sum,
    make_funded_key,
    make_user,
)
from tests.fixture_server import FixtureServer

PAGE = "/personal/kikobeats.com"


@pytest.fixture(scope="module")
def pages():
    with FixtureServer() as server:
        yield server


@pytest.fixture(scope="module")
def other_pages():
    """A second server: the same paths on another port (another origin)."""
    with FixtureServer() as server:
        yield server


@pytest.fixture(scope="module")
def lookup_app(database_url):
    """TEST-ONLY loopback fetching; every host name resolves to 127.0.0.1, so one saved page can
    be served under any origin."""
    with app_for_tests(
        database_url,
        FETCH_ALLOW_LOOPBACK=True,
        FETCH_RESOLVER=lambda host, port: ["127.0.0.1"],
        FETCH_CONNECT_TIMEOUT=1.0,
        FETCH_READ_TIMEOUT=1.0,
        FETCH_DEADLINE=2.0,
        FETCH_RETRIES=1,
        LOOKUP_ORPHAN_GRACE=1,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def api(lookup_app):
    return fresh_client(lookup_app)


def lookup(api, key: str, url: str, **query):
    return api.get(
        "/v1/creators/profile", query_string={"url": url, **query}, headers={"x-api-key": key}
    )


def ledger(db, user_id: str) -> list[tuple[str, int, str]]:
    rows = db.execute(
        "select reason, delta, ref from public.credit_ledger where user_id = %s"
        " and reason in ('usage', 'refund') order by id",
        (user_id,),
    ).fetchall()
    return [(r["reason"], r["delta"], r["ref"]) for r in rows]


# -- lookup history and what a user may read ------------------------------------------------------


def test_history_holds_each_paid_lookup_and_the_profile_it_returned(api, pages, db):
    ann, ann_key = make_funded_key(db, 5)
    first = lookup(api, ann_key, pages.url(PAGE))
    second = lookup(api, ann_key, pages.url(PAGE))
    failed = lookup(api, ann_key, pages.url("/status/404"))
    assert (first.status_code, second.status_code, failed.status_code) == (200, 200, 404)
    assert second.get_json()["meta"]["cached"] is True

    with as_user(db, ann):
        rows = db.execute("select * from public.creator_lookups order by id").fetchall()
        snapshots = db.execute("select * from public.creator_profile_snapshots").fetchall()
    assert [(r["status"], r["cached"], r["credits_charged"]) for r in rows] == [
        ("succeeded", False, 1),
        ("succeeded", True, 1),
        ("refunded", False, 1),
    ]
    assert [r["request_id"] for r in rows] == [
        first.headers["X-Request-ID"],
        second.headers["X-Request-ID"],
        failed.headers["X-Request-ID"],
    ]
    assert {str(r["user_id"]) for r in rows} == {ann}
    assert rows[0]["snapshot_id"] == rows[1]["snapshot_id"] is not None
    assert rows[2]["snapshot_id"] is None
    assert rows[0]["platform"] == "web"
    assert [s["data"] for s in snapshots] == [first.get_json()["data"]]
    assert snapshots[0]["data"]["display_name"] == "Kiko Beats"


def test_users_never_read_other_users_lookups_nor_fresher_data_they_did_not_pay_for(api, pages, db):
    ann, ann_key = make_funded_key(db, 5)
    bob, bob_key = make_funded_key(db, 5)
    assert lookup(api, ann_key, pages.url(PAGE)).status_code == 200
    # Bob pays for a fresh fetch of the same creator: a newer snapshot, now the cached one.
    fresh = lookup(api, bob_key, pages.url(PAGE), max_age=0)
    assert fresh.get_json()["meta"]["cached"] is False
    assert (
        db.execute("select count(*) as n from public.creator_profile_snapshots").fetchone()["n"]
        == 2
    )

    with as_user(db, ann):
        ann_snapshots = db.execute("select id from public.creator_profile_snapshots").fetchall()
        ann_lookups = db.execute("select user_id from public.creator_lookups").fetchall()
    with as_user(db, bob):
        bob_snapshots = db.execute("select id from public.creator_profile_snapshots").fetchall()
    assert len(ann_snapshots) == len(bob_snapshots) == 1
    assert ann_snapshots != bob_snapshots
    assert {str(r["user_id"]) for r in ann_lookups} == {ann}
    cached = db.execute("select snapshot_id from public.creator_profiles").fetchone()
    assert cached["snapshot_id"] == bob_snapshots[0]["id"]  # the cache holds Bob's, unseen by Ann

    carol = make_user(db)
    with as_user(db, carol):
        assert db.execute("select * from public.creator_lookups").fetchall() == []
        assert db.execute("select * from public.creator_profile_snapshots").fetchall() == []


@pytest.mark.parametrize(
    "statement",
    [
        "select * from public.creator_lookups",
        "select * from public.creator_profile_snapshots",
        "select * from public.creator_profiles",
    ],
)
def test_anon_reads_nothing(db, statement):
    with as_user(db, None, role="anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "insert into public.creator_lookups (request_id, user_id, platform, handle,"
        " credits_charged, cached, status) values ('r', %(u)s, 'x', 'h', 0, false, 'pending')",
        "update public.creator_lookups set status = 'refunded'",
        "delete from public.creator_lookups",
        "insert into public.creator_profile_snapshots (platform, handle, profile_url, data,"
        " fetched_at) values ('x', 'h', 'https://x.com/h', '{}', now())",
        "select public.refund_profile_lookup('r')",
        "select public.sweep_orphaned_lookups(1, 10)",
        "select * from public.begin_profile_lookup('k', 'r', 'x', 'h', 0, 1, 1)",
    ],
)
def test_users_cannot_write_lookups_or_call_the_lookup_functions(db, statement):
    user = make_user(db)
    with as_user(db, user), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(statement, {"u": user})


# -- the cache's identity: origin and query ------------------------------------------------------


def test_a_page_is_never_served_to_another_origin_nor_with_a_callers_query(
    api, pages, other_pages, db
):
    """The reported leak: B asking for the page of another origin got A's cached page, fetched
    with A's token in the query, and A's raw URL in profile_url."""
    _, ann_key = make_funded_key(db, 5)
    _, bob_key = make_funded_key(db, 5)
    port, other_port = pages.server_address[1], other_pages.server_address[1]
    secret_url = f"http://creator.example:{port}{PAGE}?token=SECRET123"
    first = lookup(api, ann_key, secret_url)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["data"]["profile_url"] == f"http://creator.example:{port}{PAGE}"

    other_origin = lookup(api, bob_key, f"http://creator.example:{other_port}{PAGE}")
    same_origin_no_query = lookup(api, bob_key, f"http://creator.example:{port}{PAGE}")
    assert other_origin.status_code == same_origin_no_query.status_code == 200
    assert other_origin.get_json()["meta"]["cached"] is False
    assert same_origin_no_query.get_json()["meta"]["cached"] is False
    assert other_pages.hits[PAGE] == 1  # fetched from its own origin
    for response in (other_origin, same_origin_no_query):
        assert "SECRET123" not in response.get_data(as_text=True)

    # The same URL again is the same creator: served from the cache.
    again = lookup(api, ann_key, secret_url)
    assert again.get_json()["meta"]["cached"] is True
    stored = db.execute(
        "select handle, profile_url, data::text as data from public.creator_profiles"
        " union all select handle, profile_url, data::text"
        " from public.creator_profile_snapshots"
    ).fetchall()
    assert stored
    for row in stored:
        assert "SECRET123" not in row["handle"] + row["profile_url"] + row["data"]
        assert "?" not in row["profile_url"]


def test_platform_identity_keeps_one_creator_across_schemes_and_case(api, pages, db):
    """Known platforms: the handle says who the creator is, whatever the URL's spelling."""
    _, key = make_funded_key(db, 5)
    port = pages.server_address[1]
    first = lookup(api, key, f"http://www.x.com:{port}/x/javilop-og-only?utm_source=mail")
    assert first.status_code == 200, first.get_json()
    assert "?" not in first.get_json()["data"]["profile_url"]
    again = lookup(api, key, "https://X.com/X/")
    assert again.get_json()["meta"]["cached"] is True


def test_a_job_charges_one_creator_once_whatever_the_case_or_trailing_slash(client, db):
    _, key = make_funded_key(db, 10)
    response = client.post(
        "/v1/jobs/create",
        json={
            "urls": [
                "https://www.youtube.com/@MKBHD",
                "https://youtube.com/@mkbhd/",
                "youtube.com/@Mkbhd/videos",
                "https://Example.com/About/",
                "https://example.com/about",
                "https://bsky.app/profile/jay.bsky.team",
            ]
        },
        headers={"x-api-key": key},
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["data"]["duplicates"] == 3
    assert body["meta"]["credits_charged"] == 3


# -- one round trip for a cache hit ---------------------------------------------------------------


def test_a_cache_hit_is_one_sql_statement(api, pages, db, monkeypatch):
    """Issue 11: the cache read and the charge are one call (begin_profile_lookup)."""
    _, key = make_funded_key(db, 5)
    assert lookup(api, key, pages.url(PAGE)).status_code == 200
    statements: list[str] = []
    real_execute = psycopg.Connection.execute

    def counting(self, query, *args, **kwargs):
        if query:  # the pool's connection check sends an empty query
            statements.append(str(query))
        return real_execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", counting)
    hit = lookup(api, key, pages.url(PAGE))
    monkeypatch.undo()
    assert hit.get_json()["meta"]["cached"] is True
    assert len(statements) == 1, statements
    assert "begin_profile_lookup" in statements[0]


# -- the settled marker and the orphan sweep ------------------------------------------------------


def begin(db, key_hash: str, request_id: str, cost: int = 1) -> dict:
    """A lookup charged by a request that then died: pending, as the API left it."""
    return db.execute(
        "select * from public.begin_profile_lookup(%s, %s, 'web', 'https://dead.example/p',"
        " 0, %s, %s)",
        (key_hash, request_id, cost, cost),
    ).fetchone()


def age(db, request_id: str, seconds: int) -> None:
    db.execute(
        "update public.creator_lookups set created_at = now() - make_interval(secs => %s)"
        " where request_id = %s",
        (seconds, request_id),
    )


def test_sweep_refunds_an_old_pending_charge_once_and_leaves_young_ones(db):
    user, key = make_funded_key(db, 5)
    begin(db, hash_api_key(key), "req_dead")
    begin(db, hash_api_key(key), "req_running")
    age(db, "req_dead", 120)
    assert balance_of(db, user) == 3

    refunded = db.execute("select public.sweep_orphaned_lookups(60, 100) as n").fetchone()["n"]
    again = db.execute("select public.sweep_orphaned_lookups(60, 100) as n").fetchone()["n"]
    assert (refunded, again) == (1, 0)
    assert ledger(db, user) == [
        ("usage", -1, "req_dead"),
        ("usage", -1, "req_running"),
        ("refund", 1, "req_dead"),
    ]
    assert balance_of(db, user) == ledger_sum(db, user) == 4
    status = db.execute(
        "select request_id, status from public.creator_lookups order by request_id"
    ).fetchall()
    assert [(r["request_id"], r["status"]) for r in status] == [
        ("req_dead", "refunded"),
        ("req_running", "pending"),
    ]


def test_refund_is_exactly_once_against_sweepers_a_normal_refund_and_a_late_success(
    database_url, db
):
    user, key = make_funded_key(db, 50)
    refs = [f"req_race_{n}" for n in range(20)]
    for ref in refs:
        begin(db, hash_api_key(key), ref)
        age(db, ref, 120)
    barrier = threading.Barrier(6)
    results: list = []

    def racer(kind: str) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            for ref in refs:
                if kind == "sweep":
                    conn.execute("select public.sweep_orphaned_lookups(60, 100)")
                elif kind == "refund":
                    conn.execute("select * from public.refund_profile_lookup(%s)", (ref,))
                else:
                    row = conn.execute(
                        "select settled from public.settle_profile_lookup(%s, 'web',"
                        " 'https://dead.example/p', 'https://dead.example/p', '{}', now())",
                        (ref,),
                    ).fetchone()
                    results.append((ref, row[0]))

    threads = [
        threading.Thread(target=racer, args=(kind,))
        for kind in ("sweep", "sweep", "sweep", "refund", "refund", "settle")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    settled = {ref for ref, ok in results if ok}
    rows = db.execute(
        "select request_id, status from public.creator_lookups where user_id = %s", (user,)
    ).fetchall()
    assert {r["request_id"] for r in rows if r["status"] == "succeeded"} == settled
    refunds = [r for r in ledger(db, user) if r[0] == "refund"]
    assert sorted(ref for _, _, ref in refunds) == sorted(set(refs) - settled)
    assert all(delta == 1 for _, delta, _ in refunds)
    assert balance_of(db, user) == ledger_sum(db, user) == 50 - len(settled)


def test_a_success_after_the_sweep_refunded_its_charge_is_not_returned_as_paid(db):
    user, key = make_funded_key(db, 5)
    begin(db, hash_api_key(key), "req_late")
    age(db, "req_late", 120)
    db.execute("select public.sweep_orphaned_lookups(60, 100)")
    row = db.execute(
        "select settled from public.settle_profile_lookup('req_late', 'web',"
        " 'https://dead.example/p', 'https://dead.example/p', '{}', now())"
    ).fetchone()
    assert row["settled"] is False
    assert balance_of(db, user) == ledger_sum(db, user) == 5


def test_sweep_command_refunds_orphans(lookup_app, db):
    user, key = make_funded_key(db, 5)
    begin(db, hash_api_key(key), "req_cli")
    age(db, "req_cli", 30)  # older than FETCH_DEADLINE (2 s) + LOOKUP_ORPHAN_GRACE (1 s)
    result = lookup_app.test_cli_runner().invoke(args=["credits", "sweep-orphans"])
    assert result.exit_code == 0, result.output
    assert "refunded 1 orphaned charges" in result.output
    assert ledger(db, user) == [("usage", -1, "req_cli"), ("refund", 1, "req_cli")]
    assert balance_of(db, user) == 5


def test_retry_after_a_crash_takes_over_the_key_and_refunds_the_dead_charge(api, pages, db):
    """The dead request charged and left its Idempotency-Key claim pending; the retry after the
    takeover window pays once in all."""
    user, key = make_funded_key(db, 5)
    dead = f"req_{uuid.uuid4().hex}"
    begin(db, hash_api_key(key), dead)
    db.execute(
        "insert into private.idempotency_keys (api_key_hash, idempotency_key,"
        " request_fingerprint, request_id, created_at)"
        " values (%s, 'crash-1', 'x', %s, now() - interval '1 hour')",
        (hash_api_key(key), dead),
    )
    retry = api.get(
        "/v1/creators/profile",
        query_string={"url": pages.url(PAGE)},
        headers={"x-api-key": key, "Idempotency-Key": "crash-1"},
    )
    assert retry.status_code == 200, retry.get_json()
    assert ledger(db, user) == [
        ("usage", -1, dead),
        ("refund", 1, dead),
        ("usage", -1, retry.headers["X-Request-ID"]),
    ]
    assert balance_of(db, user) == ledger_sum(db, user) == 4


def test_a_request_that_outlives_its_sweep_answers_504_and_stays_refunded(api, pages, db):
    """The sweep wins the race against a (very) late success: the caller is told, and pays
    nothing; the page still goes to the cache."""
    user, key = make_funded_key(db, 5)
    outcome: dict = {}

    def slow_lookup() -> None:
        outcome["response"] = lookup(api, key, pages.url(f"/latency/800{PAGE}"))

    thread = threading.Thread(target=slow_lookup)
    thread.start()
    pending = None
    for _ in range(100):
        pending = db.execute(
            "select request_id from public.creator_lookups where user_id = %s", (user,)
        ).fetchone()
        if pending:
            break
        time.sleep(0.02)
    assert pending is not None
    age(db, pending["request_id"], 120)  # as if the fetch had hung past the orphan deadline
    swept = db.execute("select public.sweep_orphaned_lookups(1, 100) as n").fetchone()["n"]
    thread.join()
    assert swept == 1
    response = outcome["response"]
    assert response.status_code == 504, response.get_json()
    assert response.get_json()["error"]["details"]["reason"] == "deadline"
    assert ledger(db, user) == [
        ("usage", -1, pending["request_id"]),
        ("refund", 1, pending["request_id"]),
    ]
    assert balance_of(db, user) == ledger_sum(db, user) == 5
    row = db.execute(
        "select status, snapshot_id from public.creator_lookups where request_id = %s",
        (pending["request_id"],),
    ).fetchone()
    assert (row["status"], row["snapshot_id"]) == ("refunded", None)
