"""Job creation: the URL-count limits agree with the OpenAPI document, and a database without
the job queue's schema answers 503 ``jobs_unavailable`` without charging."""

from __future__ import annotations

import pytest

from tests.conftest import app_for_tests, assert_error, fresh_client, ledger_sum, make_funded_key

BASE = "http://127.0.0.1:9/"


@pytest.fixture(scope="module")
def jobs_app(database_url):
    with app_for_tests(database_url, FETCH_ALLOW_LOOPBACK=True, JOBS_MAX_URLS=30) as flask_app:
        yield flask_app


@pytest.fixture
def jc(jobs_app):
    return fresh_client(jobs_app)


def urls(n: int) -> list[str]:
    return [f"{BASE}page-{i}" for i in range(n)]


def test_the_documented_url_bounds_are_the_enforced_ones(jc, db):
    schema = jc.get("/v1/openapi.json").get_json()["components"]["schemas"]["CreateJobBody"]
    bounds = schema["properties"]["urls"]
    assert (bounds["minItems"], bounds["maxItems"]) == (1, 30)
    _, key = make_funded_key(db, 100)
    headers = {"x-api-key": key}
    at_max = jc.post("/v1/jobs/create", json={"urls": urls(30)}, headers=headers)
    assert at_max.status_code == 202, at_max.get_json()
    for count in (0, 31):
        response = jc.post("/v1/jobs/create", json={"urls": urls(count)}, headers=headers)
        error = assert_error(response, 400, "validation_error")
        assert [f["field"] for f in error["details"]["fields"]] == ["urls"]


@pytest.fixture
def queue_schema_missing(database_url):
    """The database as after `supabase db push` alone: no `procrastinate` schema (renamed away
    for the test and restored after it)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("alter schema procrastinate rename to procrastinate_hidden_for_test")
        try:
            yield
        finally:
            conn.execute("alter schema procrastinate_hidden_for_test rename to procrastinate")


def test_job_creation_without_the_queue_schema_is_503_and_free(jc, db, queue_schema_missing):
    user_id, key = make_funded_key(db, 10)
    response = jc.post("/v1/jobs/create", json={"urls": urls(2)}, headers={"x-api-key": key})
    error = assert_error(response, 503, "jobs_unavailable")
    assert "procrastinate" not in error["message"]
    assert ledger_sum(db, user_id) == 10
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 0
