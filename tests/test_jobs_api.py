"""Batch jobs API without workers: validation, the single credit reservation, idempotency,
cancel and refunds, reads, RLS, and where the queue's schema lives. Real Postgres throughout;
item outcomes are recorded with the same query functions the workers use."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from app.queries import jobs as job_queries
from tests.conftest import (
    app_for_tests,
    as_user,
    assert_error,
    balance_of,
    fresh_client,
    ledger_sum,
    make_funded_key,
)

BASE = "http://127.0.0.1:9/"


@pytest.fixture(scope="module")
def jobs_app(database_url):
    """The app with the TEST-ONLY loopback setting (job URLs point at 127.0.0.1)."""
    with app_for_tests(
        database_url, FETCH_ALLOW_LOOPBACK=True, JOBS_MAX_URLS=250, JOBS_HOST_CONCURRENCY=3
    ) as flask_app:
        yield flask_app


@pytest.fixture
def jc(jobs_app):
    return fresh_client(jobs_app)


def funded(db, credits: int = 50) -> tuple[str, str]:
    return make_funded_key(db, credits)


def create(jc, key: str, urls: list[str], **extra):
    headers = {"x-api-key": key, **extra.pop("headers", {})}
    return jc.post("/v1/jobs/create", json={"urls": urls, **extra}, headers=headers)


def urls(n: int) -> list[str]:
    return [f"{BASE}x/page-{i}" for i in range(n)]


def queue_tasks(db, job_id: str) -> list[dict]:
    return db.execute(
        "select t.id, t.status::text as status, t.task_name, t.lock, t.args"
        "  from procrastinate.procrastinate_jobs t"
        "  join public.job_items i on i.task_id = t.id where i.job_id = %s order by i.id",
        (job_id,),
    ).fetchall()


def usage_rows(db, user_id: str) -> list[dict]:
    return db.execute(
        "select reason, delta, ref from public.credit_ledger"
        " where user_id = %s and reason in ('usage', 'refund') order by id",
        (user_id,),
    ).fetchall()


# --- creation -------------------------------------------------------------------------------------


def test_create_reserves_one_credit_per_accepted_url_in_one_ledger_row(jc, db):
    user_id, key = funded(db, credits=10)
    submitted = [
        f"{BASE}youtube/a",
        "127.0.0.1:9/youtube/b",  # https:// assumed
        f"{BASE}youtube/a",  # duplicate
        "ftp://example.com/x",  # scheme
        "http://10.0.0.1/private",  # non-public
        "not a url",
        f"{BASE}bluesky/c",
    ]
    response = create(jc, key, submitted)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    job = body["data"]
    assert job["status"] == "queued"
    assert job["counts"] == {
        "total": 3,
        "done": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
        "pending": 3,
    }
    assert job["progress"] == 0.0
    assert job["duplicates"] == 1
    assert [(r["index"], r["code"]) for r in job["rejected"]] == [
        (3, "url_not_allowed"),
        (4, "url_not_allowed"),
        (5, "validation_error"),
    ]
    assert job["credits_charged"] == 3 and job["credits_refunded"] == 0
    assert job["webhook"] is None and job["webhook_secret"] is None
    assert body["meta"]["credits_charged"] == 3
    assert body["meta"]["credits_remaining"] == 7
    rows = usage_rows(db, user_id)
    assert [(r["reason"], r["delta"], r["ref"]) for r in rows] == [
        ("usage", -3, body["meta"]["request_id"])
    ]
    assert balance_of(db, user_id) == 7 == ledger_sum(db, user_id)
    items = db.execute(
        "select position, url, host, status from public.job_items where job_id = %s"
        " order by position",
        (job["id"],),
    ).fetchall()
    assert [i["url"] for i in items] == [
        f"{BASE}youtube/a",
        "https://127.0.0.1:9/youtube/b",
        f"{BASE}bluesky/c",
    ]
    assert {i["host"] for i in items} == {"127.0.0.1"} and {i["status"] for i in items} == {
        "queued"
    }
    tasks = queue_tasks(db, job["id"])
    assert [t["status"] for t in tasks] == ["todo"] * 3
    assert {t["task_name"] for t in tasks} == {job_queries.SCRAPE_TASK}
    assert [t["lock"] for t in tasks] == [f"host:127.0.0.1:{i}" for i in range(3)]


def test_webhook_url_gets_a_secret_shown_once(jc, db):
    _, key = funded(db)
    response = create(jc, key, urls(2), webhook_url="http://127.0.0.1:9/hook")
    assert response.status_code == 202
    job = response.get_json()["data"]
    assert job["webhook_secret"].startswith("whsec_") and len(job["webhook_secret"]) > 30
    assert job["webhook"] == {"url": "http://127.0.0.1:9/hook", "deliveries": []}
    again = jc.get(f"/v1/jobs/get?id={job['id']}", headers={"x-api-key": key}).get_json()
    assert "webhook_secret" not in again["data"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"urls": []}, "urls"),
        ({"urls": urls(251)}, "urls"),
        ({}, "urls"),
        ({"urls": "https://example.com/x"}, "urls"),
        ({"urls": urls(1), "webhook_url": "http://169.254.169.254/latest"}, "webhook_url"),
        ({"urls": urls(1), "webhook_url": "file:///etc/passwd"}, "webhook_url"),
    ],
)
def test_validation_errors_charge_nothing(jc, db, payload, field):
    user_id, key = funded(db, credits=5)
    response = jc.post("/v1/jobs/create", json=payload, headers={"x-api-key": key})
    body = assert_error(response, 400, "validation_error")
    assert field in [f["field"] for f in body["details"]["fields"]]
    assert usage_rows(db, user_id) == []
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 0


def test_all_invalid_urls_are_named_one_by_one(jc, db):
    user_id, key = funded(db, credits=5)
    response = create(jc, key, ["gopher://x.example/", f"{BASE}ok-but", "http://192.168.1.1/"][::2])
    body = assert_error(response, 400, "validation_error")
    fields = body["details"]["fields"]
    assert [f["field"] for f in fields] == ["urls[0]", "urls[1]"]
    assert all(f["message"].startswith("url_not_allowed") for f in fields)
    assert usage_rows(db, user_id) == []


def test_insufficient_credits_is_402_with_the_shortfall_and_creates_nothing(jc, db):
    user_id, key = funded(db, credits=2)
    body = assert_error(create(jc, key, urls(5)), 402, "insufficient_credits")
    assert body["details"] == {"required": 5, "balance": 2, "shortfall": 3}
    assert balance_of(db, user_id) == 2
    assert usage_rows(db, user_id) == []
    counts = db.execute(
        "select (select count(*) from public.jobs) as jobs,"
        "       (select count(*) from public.job_items) as items,"
        "       (select count(*) from procrastinate.procrastinate_jobs) as tasks"
    ).fetchone()
    assert counts == {"jobs": 0, "items": 0, "tasks": 0}


def test_invalid_key_is_401(jc, db):
    funded(db)
    assert_error(create(jc, "cs_live_nope", urls(1)), 401, "invalid_api_key")


def test_idempotency_key_replays_the_same_job_without_charging_again(jc, db):
    user_id, key = funded(db, credits=20)
    headers = {"Idempotency-Key": "batch-42"}
    first = create(jc, key, urls(4), headers=headers)
    second = create(jc, key, urls(4), headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["data"]["id"] == second.get_json()["data"]["id"]
    assert [r["delta"] for r in usage_rows(db, user_id)] == [-4]
    assert (
        db.execute("select count(*) as n from procrastinate.procrastinate_jobs").fetchone()["n"]
        == 4
    )
    other = create(jc, key, urls(3), headers=headers)
    assert_error(other, 409, "idempotency_conflict")


# --- reads ----------------------------------------------------------------------------------------


def test_get_list_and_results_with_cursors(jc, db):
    _, key = funded(db, credits=100)
    h = {"x-api-key": key}
    ids = [create(jc, key, urls(n)).get_json()["data"]["id"] for n in (1, 2, 30)]
    page1 = jc.get("/v1/jobs/list?limit=2", headers=h).get_json()
    assert [j["id"] for j in page1["data"]] == ids[::-1][:2]
    assert page1["meta"]["has_more"] is True
    page2 = jc.get(f"/v1/jobs/list?limit=2&cursor={page1['meta']['next_cursor']}", headers=h)
    assert [j["id"] for j in page2.get_json()["data"]] == [ids[0]]
    assert page2.get_json()["meta"]["next_cursor"] is None
    assert page2.get_json()["meta"]["has_more"] is False
    queued = jc.get("/v1/jobs/list?status=completed", headers=h).get_json()
    assert queued["data"] == []

    got = jc.get(f"/v1/jobs/get?id={ids[2]}", headers=h).get_json()["data"]
    assert got["counts"]["total"] == 30 and got["status"] == "queued"

    seen, cursor = [], None
    while True:
        q = f"/v1/jobs/results?id={ids[2]}&limit=12" + (f"&cursor={cursor}" if cursor else "")
        page = jc.get(q, headers=h).get_json()
        seen += page["data"]
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert [r["url"] for r in seen] == urls(30)
    assert {r["status"] for r in seen} == {"queued"}
    assert all(r["profile"] is None and r["error"] is None for r in seen)

    assert_error(
        jc.get(f"/v1/jobs/results?id={ids[2]}&cursor=@@", headers=h), 400, "validation_error"
    )
    assert_error(jc.get("/v1/jobs/get?id=not-a-uuid", headers=h), 400, "validation_error")


def test_other_users_jobs_are_404(jc, db):
    _, key_a = funded(db)
    _, key_b = funded(db)
    job_id = create(jc, key_a, urls(2)).get_json()["data"]["id"]
    hb = {"x-api-key": key_b}
    assert_error(jc.get(f"/v1/jobs/get?id={job_id}", headers=hb), 404, "not_found")
    assert_error(jc.get(f"/v1/jobs/results?id={job_id}", headers=hb), 404, "not_found")
    assert_error(jc.post("/v1/jobs/cancel", json={"id": job_id}, headers=hb), 404, "not_found")
    assert jc.get("/v1/jobs/list", headers=hb).get_json()["data"] == []
    assert_error(jc.get(f"/v1/jobs/get?id={uuid.uuid4()}", headers=hb), 404, "not_found")


# --- item outcomes, cancel, refunds ------------------------------------------------------------


def item_ids(db, job_id: str) -> list[int]:
    rows = db.execute(
        "select id from public.job_items where job_id = %s order by id", (job_id,)
    ).fetchall()
    return [r["id"] for r in rows]


def test_item_outcomes_refund_failures_exactly_once_and_finish_the_job(jc, db):
    user_id, key = funded(db, credits=10)
    job_id = create(jc, key, urls(4)).get_json()["data"]["id"]
    ids = item_ids(db, job_id)
    job_queries.finish_item(db, ids[0], "succeeded", profile={"name": "A"}, cached=False)
    for _ in range(3):  # redelivery: the second and third calls change nothing
        job_queries.finish_item(db, ids[1], "failed", error_code="creator_not_found")
    job_queries.finish_item(db, ids[2], "failed", error_code="upstream_timeout")
    assert job_queries.finish_item(db, ids[0], "failed", error_code="x") is None
    job = job_queries.finish_item(db, ids[3], "succeeded", profile={"name": "D"})
    assert job["status"] == "completed" and job["finished_at"] is not None
    assert (job["items_succeeded"], job["items_failed"]) == (2, 2)
    assert (job["credits_charged"], job["credits_refunded"]) == (4, 2)
    rows = usage_rows(db, user_id)
    assert [(r["reason"], r["delta"]) for r in rows] == [
        ("usage", -4),
        ("refund", 1),
        ("refund", 1),
    ]
    assert {r["ref"] for r in rows[1:]} == {f"{job_id}:{ids[1]}", f"{job_id}:{ids[2]}"}
    assert balance_of(db, user_id) == 8 == ledger_sum(db, user_id)

    h = {"x-api-key": key}
    results = jc.get(f"/v1/jobs/results?id={job_id}", headers=h).get_json()["data"]
    assert [r["status"] for r in results] == ["succeeded", "failed", "failed", "succeeded"]
    assert results[0]["profile"] == {"name": "A"} and results[0]["error"] is None
    assert results[1]["error"]["code"] == "creator_not_found" and results[1]["profile"] is None
    got = jc.get(f"/v1/jobs/get?id={job_id}", headers=h).get_json()["data"]
    assert got["progress"] == 100.0 and got["status"] == "completed"
    body = assert_error(
        jc.post("/v1/jobs/cancel", json={"id": job_id}, headers=h), 409, "job_finished"
    )
    assert body["details"] == {"status": "completed"}


def test_all_failed_items_make_a_failed_job_with_everything_refunded(jc, db):
    user_id, key = funded(db, credits=3)
    job_id = create(jc, key, urls(3)).get_json()["data"]["id"]
    for item_id in item_ids(db, job_id):
        job = job_queries.finish_item(db, item_id, "failed", error_code="upstream_error")
    assert job["status"] == "failed" and job["credits_refunded"] == 3
    assert balance_of(db, user_id) == 3 == ledger_sum(db, user_id)


def test_cancel_refunds_unstarted_items_and_cancels_their_tasks(jc, db):
    user_id, key = funded(db, credits=10)
    h = {"x-api-key": key}
    created = create(jc, key, urls(5), webhook_url="http://127.0.0.1:9/hook").get_json()["data"]
    job_id = created["id"]
    ids = item_ids(db, job_id)
    # one item succeeded, one is being fetched right now
    job_queries.finish_item(db, ids[0], "succeeded", profile={"name": "A"})
    task_id = db.execute("select task_id from public.job_items where id = %s", (ids[1],)).fetchone()
    db.execute(
        "update procrastinate.procrastinate_jobs set status = 'doing' where id = %s",
        (task_id["task_id"],),
    )
    assert job_queries.start_item(db, ids[1], task_id["task_id"])["attempts"] == 1

    response = jc.post("/v1/jobs/cancel", json={"id": job_id}, headers=h)
    assert response.status_code == 200, response.get_json()
    job = response.get_json()["data"]
    assert job["status"] == "cancelled" and job["cancelled_at"] is not None
    assert job["counts"]["cancelled"] == 3 and job["counts"]["pending"] == 1
    assert job["credits_refunded"] == 3 and job["finished_at"] is None
    statuses = [t["status"] for t in queue_tasks(db, job_id)]
    assert statuses[1:] == ["doing", "cancelled", "cancelled", "cancelled"]
    assert balance_of(db, user_id) == 8 == ledger_sum(db, user_id)

    # the running item finishes after the cancel: it is paid, and now the job is finished
    job_row = job_queries.finish_item(db, ids[1], "succeeded", profile={"name": "B"})
    assert job_row["status"] == "cancelled" and job_row["finished_at"] is not None
    webhook_tasks = db.execute(
        "select args from procrastinate.procrastinate_jobs where task_name = %s",
        (job_queries.WEBHOOK_TASK,),
    ).fetchall()
    assert webhook_tasks == [{"args": {"job_id": job_id}}]

    again = jc.post("/v1/jobs/cancel", json={"id": job_id}, headers=h)
    assert again.status_code == 200 and again.get_json()["data"]["credits_refunded"] == 3
    assert [r["delta"] for r in usage_rows(db, user_id)] == [-5, 1, 1, 1]
    # a task that runs after the cancel finds its item final and does nothing
    assert job_queries.start_item(db, ids[2], queue_tasks(db, job_id)[2]["id"]) is None


# --- RLS and schema placement ------------------------------------------------------------------


def test_rls_owner_reads_own_jobs_items_and_deliveries_only(jc, db):
    a, key_a = funded(db)
    b, key_b = funded(db)
    job_a = create(jc, key_a, urls(2), webhook_url="http://127.0.0.1:9/h").get_json()["data"]["id"]
    job_b = create(jc, key_b, urls(3)).get_json()["data"]["id"]
    for job_id, user in ((job_a, a), (job_b, b)):
        job_queries.record_delivery(
            db,
            job_id=job_id,
            user_id=user,
            event_id="evt_x",
            attempt=1,
            url="http://127.0.0.1:9/h",
            status_code=500,
            error="status_500",
            duration_ms=3,
            succeeded=False,
        )
    with as_user(db, a):
        jobs = db.execute("select id, user_id from public.jobs").fetchall()
        items = db.execute("select job_id from public.job_items").fetchall()
        deliveries = db.execute("select job_id from public.webhook_deliveries").fetchall()
    assert [str(r["id"]) for r in jobs] == [job_a]
    assert {str(r["job_id"]) for r in items} == {job_a} and len(items) == 2
    assert [str(r["job_id"]) for r in deliveries] == [job_a]
    with as_user(db, b):
        assert len(db.execute("select 1 from public.job_items").fetchall()) == 3
    with as_user(db, a):
        everything = db.execute("select * from public.jobs").fetchall()
    assert [str(r["id"]) for r in everything] == [job_a]
    assert not [column for column in everything[0] if "secret" in column]
    with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select secret from private.job_webhook_secrets")


@pytest.mark.parametrize(
    "statement",
    [
        "update public.jobs set credits_refunded = 0",
        "update public.job_items set status = 'succeeded'",
        "delete from public.job_items",
        "insert into public.webhook_deliveries (job_id, user_id, event_id, attempt, url,"
        " succeeded) select id, user_id, 'e', 1, 'u', true from public.jobs",
        "select * from private.host_politeness",
        "select * from procrastinate.procrastinate_jobs",
        "select procrastinate.procrastinate_defer_jobs_v1('{}')",
    ],
)
def test_authenticated_cannot_write_jobs_or_touch_the_queue(jc, db, statement):
    a, key_a = funded(db)
    create(jc, key_a, urls(1))
    with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(statement)


@pytest.mark.parametrize("table", ["public.jobs", "public.job_items", "public.webhook_deliveries"])
def test_anon_reads_nothing(db, table):
    with as_user(db, None, role="anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(f"select 1 from {table}")


def test_queue_schema_is_outside_the_exposed_schemas_and_pinned(db):
    tables = db.execute(
        "select schemaname, tablename from pg_tables where tablename like 'procrastinate%%'"
    ).fetchall()
    assert {t["schemaname"] for t in tables} == {"procrastinate"}
    assert {t["tablename"] for t in tables} >= {"procrastinate_jobs", "procrastinate_workers"}
    unpinned = db.execute(
        "select proname from pg_proc where pronamespace = 'procrastinate'::regnamespace"
        " and not coalesce(proconfig, '{}') @> array['search_path=procrastinate, pg_catalog']"
    ).fetchall()
    assert unpinned == []
    privileges = db.execute(
        "select has_schema_privilege('anon', 'procrastinate', 'usage') as anon,"
        "       has_schema_privilege('authenticated', 'procrastinate', 'usage') as auth"
    ).fetchone()
    assert privileges == {"anon": False, "auth": False}
    rls = db.execute(
        "select relname, relrowsecurity from pg_class"
        " where oid in ('public.jobs'::regclass, 'public.job_items'::regclass,"
        "               'public.webhook_deliveries'::regclass, 'private.host_politeness'::regclass)"
    ).fetchall()
    assert all(r["relrowsecurity"] for r in rls) and len(rls) == 4
    policies = db.execute(
        "select qual from pg_policies"
        " where tablename in ('jobs', 'job_items', 'webhook_deliveries')"
    ).fetchall()
    assert len(policies) == 3
    assert all("( SELECT auth.uid() AS uid)" in p["qual"] for p in policies)


def test_queue_schema_install_is_idempotent(database_url):
    from app import migrate

    with psycopg.connect(database_url, autocommit=True) as conn:
        assert migrate.apply_queue_schema(conn) is False
        assert migrate.apply_queue_schema(conn) is False


def test_openapi_documents_the_jobs_endpoints(jc):
    doc = jc.get("/v1/openapi.json").get_json()
    create_op = doc["paths"]["/v1/jobs/create"]["post"]
    assert {"202", "400", "401", "402", "409", "429"} <= set(create_op["responses"])
    assert "insufficient_credits" in create_op["responses"]["402"]["description"]
    for path in ("/v1/jobs/get", "/v1/jobs/results", "/v1/jobs/list"):
        assert "404" in doc["paths"][path]["get"]["responses"] or path.endswith("list")
    assert (
        "job_finished" in doc["paths"]["/v1/jobs/cancel"]["post"]["responses"]["409"]["description"]
    )
