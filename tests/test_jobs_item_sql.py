"""What a worker sends to Postgres per item: one call to start it (politeness included), one to
finish it (refund, counters, job end, webhook task), against the real database and a local page
server. The statement count is taken on real connections (a ``psycopg.Connection`` subclass
that counts ``execute`` calls), not on a fake."""

from __future__ import annotations

import dataclasses
import threading
import time

import psycopg
import pytest
from psycopg.rows import dict_row

from app import db as app_db
from app import profiles
from app.jobs import tasks
from app.queries import jobs as job_queries
from tests.conftest import app_for_tests, fresh_client, make_funded_key
from tests.fixture_server import FixtureServer

PAGE = "x/javilop-og-only"


class CountingConnection(psycopg.Connection):
    """A real psycopg connection that also records every statement sent with ``execute``."""

    statements: list[str] = []

    def execute(self, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(self)
        CountingConnection.statements.append(text)
        return super().execute(query, params, **kwargs)


@pytest.fixture(scope="module")
def jobs_client(database_url):
    with app_for_tests(
        database_url, FETCH_ALLOW_LOOPBACK=True, JOBS_HOST_CONCURRENCY=0
    ) as flask_app:
        yield flask_app


@pytest.fixture(scope="module")
def pages():
    with FixtureServer() as server:
        yield server


def _job(jobs_client, db, urls: list[str]) -> list[dict]:
    _, key = make_funded_key(db, 10)
    response = fresh_client(jobs_client).post(
        "/v1/jobs/create", json={"urls": urls}, headers={"x-api-key": key}
    )
    assert response.status_code == 202, response.get_json()
    return db.execute(
        "select id, task_id, host from public.job_items where job_id = %s order by position",
        (response.get_json()["data"]["id"],),
    ).fetchall()


def _runtime(database_url: str, config: dict) -> tasks.Runtime:
    pool = psycopg_pool(database_url, config)
    settings = dataclasses.replace(profiles.fetch_settings(config), max_retry_after=0)
    return tasks.Runtime(config=config, pool=pool, fetch_settings=settings)


def psycopg_pool(database_url: str, config: dict):
    idle_check = app_db.IdleCheck(config["DB_POOL_CHECK_IDLE"])
    pool = app_db.ConnectionPool(
        database_url,
        connection_class=CountingConnection,
        kwargs=app_db.connection_kwargs(database_url),
        min_size=1,
        max_size=1,
        check=idle_check.check,
        open=False,
    )
    pool.open(wait=True)
    with pool.connection():  # the new connection's first ping happens here
        pass
    return pool


def test_a_fetched_item_is_five_statements(jobs_client, db, database_url, pages):
    """get_item, the cache lookup, start (politeness + running), the cache store and finish."""
    (item,) = _job(jobs_client, db, [pages.url(f"/{PAGE}?one")])
    config = {**jobs_client.config, "DB_POOL_CHECK_IDLE": 60, "JOBS_HOST_SPACING_MS": 250}
    rt = _runtime(database_url, config)
    try:
        CountingConnection.statements.clear()
        assert tasks.process_item(rt, item["id"], item["task_id"]) == "succeeded"
        sent = list(CountingConnection.statements)
    finally:
        rt.pool.close()
    assert len(sent) == 5, sent
    assert "private.start_job_item" in sent[2] and "private.finish_job_item" in sent[4]
    row = db.execute(
        "select i.status, i.attempts, j.status as job_status, j.items_succeeded"
        "  from public.job_items i join public.jobs j on j.id = i.job_id where i.id = %s",
        (item["id"],),
    ).fetchone()
    assert row == {
        "status": "succeeded",
        "attempts": 1,
        "job_status": "completed",
        "items_succeeded": 1,
    }


def test_start_takes_the_host_slot_or_answers_wait_without_starting(jobs_client, db, pages):
    first, second = _job(jobs_client, db, [pages.url(f"/{PAGE}?a"), pages.url(f"/{PAGE}?b")])
    started = job_queries.start_item(db, first["id"], first["task_id"], first["host"], 250)
    assert started["outcome"] == "started" and started["attempts"] == 1
    waiting = job_queries.start_item(db, second["id"], second["task_id"], second["host"], 250)
    assert waiting["outcome"] == "wait" and 0.15 < waiting["wait_seconds"] <= 0.25
    status = db.execute("select status from public.job_items where id = %s", (second["id"],))
    assert status.fetchone()["status"] == "queued"  # nothing started while it must wait
    # after the wait the worker starts it without taking another slot
    again = job_queries.start_item(db, second["id"], second["task_id"])
    assert again["outcome"] == "started"


@pytest.mark.parametrize("spacing_ms", [0, 250])
def test_start_of_a_backed_off_host_is_refused_with_the_time_left(
    jobs_client, db, pages, spacing_ms
):
    (item,) = _job(jobs_client, db, [pages.url(f"/{PAGE}?c")])
    job_queries.block_host(db, item["host"], 30)
    refused = job_queries.start_item(db, item["id"], item["task_id"], item["host"], spacing_ms)
    assert refused["outcome"] == "backed_off" and 29 < refused["wait_seconds"] <= 30
    status = db.execute(
        "select status, attempts from public.job_items where id = %s", (item["id"],)
    )
    assert status.fetchone() == {"status": "queued", "attempts": 0}


def test_start_of_another_tasks_item_is_skipped(jobs_client, db, pages):
    (item,) = _job(jobs_client, db, [pages.url(f"/{PAGE}?d")])
    assert job_queries.start_item(db, item["id"], item["task_id"] + 10_000, item["host"], 0) is None


def test_item_functions_are_not_callable_by_api_roles(db):
    for function in (
        "private.start_job_item",
        "private.finish_job_item",
        "private.finish_job_if_done",
        "private.take_host_slot",
    ):
        for role in ("anon", "authenticated"):
            allowed = db.execute(
                "select bool_or(has_function_privilege(%s, p.oid, 'execute')) as allowed"
                "  from pg_catalog.pg_proc p where p.oid::regproc::text = %s",
                (role, function),
            ).fetchone()["allowed"]
            assert allowed is False, (function, role)


def test_counting_connection_counts_real_statements(database_url):
    with CountingConnection.connect(database_url, row_factory=dict_row) as conn:
        CountingConnection.statements.clear()
        assert conn.execute("select 1 as one").fetchone() == {"one": 1}
    assert CountingConnection.statements == ["select 1 as one"]


def test_first_start_waits_for_a_cancel_holding_the_job_instead_of_deadlocking(
    jobs_client, db, database_url, pages
):
    """A cancel locks the job row, then cancels its queued items. A first start arriving in
    between must queue behind the job row (the lock order everywhere: job, then items), then
    find its item cancelled; locking the item first would deadlock with the cancel."""
    (item,) = _job(jobs_client, db, [pages.url(f"/{PAGE}?e")])
    job_id = db.execute(
        "select job_id from public.job_items where id = %s", (item["id"],)
    ).fetchone()["job_id"]
    outcome: dict = {}

    def start() -> None:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            try:
                outcome["started"] = job_queries.start_item(
                    conn, item["id"], item["task_id"], item["host"], 0
                )
            except psycopg.Error as exc:
                outcome["error"] = exc

    with psycopg.connect(database_url) as cancel:  # one transaction, as cancel_job runs
        cancel.execute("select 1 from public.jobs where id = %s for update", (job_id,))
        starter = threading.Thread(target=start)
        starter.start()
        time.sleep(0.5)  # the start is now waiting for the job row
        cancel.execute(
            "update public.job_items set status = 'cancelled', finished_at = now()"
            " where job_id = %s and status = 'queued'",
            (job_id,),
        )
        cancel.execute(
            "update public.jobs set status = 'cancelled', cancelled_at = now() where id = %s",
            (job_id,),
        )
        cancel.commit()
    starter.join(timeout=10)
    assert "error" not in outcome, outcome
    assert outcome["started"] is None
    row = db.execute("select status, attempts from public.job_items where id = %s", (item["id"],))
    assert row.fetchone() == {"status": "cancelled", "attempts": 0}


def _parts_job(jobs_client, db, urls: list[str]) -> tuple[str, list[dict]]:
    """A job with ``include: ["profile", "posts"]`` (price 1 + POSTS_COST per URL)."""
    user_id, key = make_funded_key(db, 20)
    response = fresh_client(jobs_client).post(
        "/v1/jobs/create",
        json={"urls": urls, "include": ["profile", "posts"]},
        headers={"x-api-key": key},
    )
    assert response.status_code == 202, response.get_json()
    items = db.execute(
        "select id, task_id, host from public.job_items where job_id = %s order by position",
        (response.get_json()["data"]["id"],),
    ).fetchall()
    return user_id, items


def _refunds(db, user_id: str) -> list[int]:
    rows = db.execute(
        "select delta from public.credit_ledger where user_id = %s and reason = 'refund'"
        " order by id",
        (user_id,),
    ).fetchall()
    return [r["delta"] for r in rows]


def test_a_failed_item_refunds_its_whole_price_once(jobs_client, db, pages):
    """Both parts failed: the refund is the item's price (1 + POSTS_COST), not one credit, and
    a redelivered finish changes nothing."""
    price = 1 + jobs_client.config["POSTS_COST"]
    user_id, (item,) = _parts_job(jobs_client, db, [pages.url(f"/{PAGE}?f")])
    failed = {"error_code": "not_found", "posts_error_code": "no_posts"}
    job = job_queries.finish_item(db, item["id"], "failed", **failed)
    assert job["items_failed"] == 1 and job["credits_refunded"] == price
    assert job_queries.finish_item(db, item["id"], "failed", **failed) is None
    assert _refunds(db, user_id) == [price]


def test_a_failed_posts_part_refunds_its_part_only(jobs_client, db, pages):
    posts_cost = jobs_client.config["POSTS_COST"]
    user_id, (item,) = _parts_job(jobs_client, db, [pages.url(f"/{PAGE}?g")])
    job = job_queries.finish_item(
        db,
        item["id"],
        "succeeded",
        profile={"platform": "x"},
        cached=False,
        posts_error_code="no_posts",
        posts_error_message="The creator has no posts to show.",
        refund=posts_cost,
    )
    assert job["items_succeeded"] == 1 and job["credits_refunded"] == posts_cost
    row = db.execute(
        "select status, posts, posts_error_code from public.job_items where id = %s",
        (item["id"],),
    ).fetchone()
    assert row == {"status": "succeeded", "posts": None, "posts_error_code": "no_posts"}
    assert _refunds(db, user_id) == [posts_cost]


def test_a_refund_above_the_items_price_is_refused_and_changes_nothing(jobs_client, db, pages):
    price = 1 + jobs_client.config["POSTS_COST"]
    user_id, (item,) = _parts_job(jobs_client, db, [pages.url(f"/{PAGE}?h")])
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        job_queries.finish_item(db, item["id"], "failed", error_code="x", refund=price + 1)
    status = db.execute("select status from public.job_items where id = %s", (item["id"],))
    assert status.fetchone()["status"] == "queued"
    assert _refunds(db, user_id) == []


@pytest.mark.parametrize("spacing_ms", [0, 250])
def test_api_host_politeness_is_one_statement(db, spacing_ms):
    """``take_host_slot`` (the gate of the API hosts a source calls): a wait, or None while the
    host is backed off."""
    first = job_queries.take_host_slot(db, "api.example.test", spacing_ms)
    second = job_queries.take_host_slot(db, "api.example.test", spacing_ms)
    assert first == 0.0
    if spacing_ms:
        assert 0.15 < second <= 0.25
    else:
        assert second == 0.0
    job_queries.block_host(db, "api.example.test", 30)
    assert job_queries.take_host_slot(db, "api.example.test", spacing_ms) is None
