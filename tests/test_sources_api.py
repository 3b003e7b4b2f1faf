"""Source chains end to end: ``GET /v1/creators/profile`` and a batch job item, with the real
database and a local TLS server answering for the real ``https://`` API and page hosts with
recorded responses (tests/tls_server.py; test-only settings FETCH_RESOLVER and FETCH_CA_BUNDLE).
"""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from app import db as app_db
from app.jobs import tasks
from tests.conftest import app_for_tests, assert_error, balance_of, fresh_client, make_funded_key
from tests.fixture_server import FIXTURES as PAGES
from tests.tls_server import Reply, TlsServer, recorded

HOSTS = ["public.api.bsky.app", "bsky.app"]
BSKY_URL = "https://bsky.app/profile/stephenking.bsky.social"
API_PATH = "/xrpc/app.bsky.actor.getProfile"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with TlsServer(HOSTS) as server:
        server.ca_path = server.write_ca(tmp_path_factory.mktemp("ca"))
        yield server


@pytest.fixture(scope="module")
def sources_app(database_url, tls):
    with app_for_tests(
        database_url,
        FETCH_ALLOW_LOOPBACK=True,
        FETCH_RESOLVER=tls.resolver,
        FETCH_CA_BUNDLE=tls.ca_path,
        FETCH_CONNECT_TIMEOUT=1.0,
        FETCH_READ_TIMEOUT=1.0,
        FETCH_DEADLINE=4.0,
        FETCH_RETRIES=0,
        PROFILE_CACHE_TTL=0,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def client(sources_app, tls):
    tls.reset()
    return fresh_client(sources_app)


def ledger(db, user_id: str) -> list[tuple[str, int]]:
    rows = db.execute(
        "select reason, delta from public.credit_ledger where user_id = %s"
        " and reason in ('usage', 'refund') order by id",
        (user_id,),
    ).fetchall()
    return [(r["reason"], r["delta"]) for r in rows]


def test_profile_from_the_bluesky_api_costs_one_credit(client, tls, db):
    user_id, key = make_funded_key(db, 3)
    tls.route("public.api.bsky.app", API_PATH, recorded("bluesky/getprofile_alice_snapshot.json"))
    response = client.get(
        "/v1/creators/profile", query_string={"url": BSKY_URL}, headers={"x-api-key": key}
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["platform"] == "bluesky"
    assert (data["followers"], data["following"], data["posts"]) == (2, 3, 4)
    assert data["sources"]["followers"] == "bluesky_api"
    assert ledger(db, user_id) == [("usage", -1)]
    assert balance_of(db, user_id) == 2


def test_fall_through_to_the_page_is_still_one_charge(client, tls, db):
    user_id, key = make_funded_key(db, 3)
    tls.route("public.api.bsky.app", API_PATH, Reply(503, {"error": "Unavailable"}))
    tls.route(
        "bsky.app",
        "/profile/stephenking.bsky.social",
        Reply(200, (PAGES / "bluesky/stephenking.html").read_bytes(), "text/html"),
    )
    response = client.get(
        "/v1/creators/profile", query_string={"url": BSKY_URL}, headers={"x-api-key": key}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["sources"]["followers"].startswith("page:")
    assert ledger(db, user_id) == [("usage", -1)]


def test_every_source_failing_is_one_charge_and_one_refund(client, tls, db):
    user_id, key = make_funded_key(db, 3)
    tls.route("public.api.bsky.app", API_PATH, Reply(429, {"error": "RateLimitExceeded"}))
    tls.route("bsky.app", "/profile/stephenking.bsky.social", Reply(403, b"denied", "text/html"))
    response = client.get(
        "/v1/creators/profile", query_string={"url": BSKY_URL}, headers={"x-api-key": key}
    )
    error = assert_error(response, 502, "upstream_blocked")
    assert [s["source"] for s in error["details"]["sources"]] == ["bluesky_api", "page"]
    assert ledger(db, user_id) == [("usage", -1), ("refund", 1)]
    assert balance_of(db, user_id) == 3


def test_not_found_from_the_api_is_404_and_refunded(client, tls, db):
    user_id, key = make_funded_key(db, 3)
    tls.route(
        "public.api.bsky.app",
        API_PATH,
        Reply(400, {"error": "InvalidRequest", "message": "Profile not found"}),
    )
    response = client.get(
        "/v1/creators/profile", query_string={"url": BSKY_URL}, headers={"x-api-key": key}
    )
    assert_error(response, 404, "creator_not_found")
    assert ledger(db, user_id) == [("usage", -1), ("refund", 1)]


def test_a_batch_job_item_goes_through_the_chain(sources_app, client, tls, db, database_url):
    user_id, key = make_funded_key(db, 5)
    tls.route("public.api.bsky.app", API_PATH, recorded("bluesky/getprofile_alice_snapshot.json"))
    created = client.post(
        "/v1/jobs/create", json={"urls": [BSKY_URL]}, headers={"x-api-key": key}
    ).get_json()["data"]
    item = db.execute(
        "select id, task_id from public.job_items where job_id = %s", (created["id"],)
    ).fetchone()
    kwargs = app_db.connection_kwargs(database_url)
    with ConnectionPool(database_url, kwargs=kwargs, min_size=1, max_size=2, open=True) as pool:
        runtime = tasks.configure(sources_app.config, pool)
        assert tasks.process_item(runtime, item["id"], item["task_id"]) == "succeeded"
    results = client.get(
        f"/v1/jobs/results?id={created['id']}", headers={"x-api-key": key}
    ).get_json()["data"]
    assert results[0]["status"] == "succeeded"
    assert results[0]["profile"]["sources"]["followers"] == "bluesky_api"
    assert balance_of(db, user_id) == 4


def test_platforms_listing_is_free_and_documented(client):
    response = client.get("/v1/creators/platforms")
    assert response.status_code == 200
    listing = {entry["platform"]: entry["sources"] for entry in response.get_json()["data"]}
    assert listing["bluesky"][0] == {
        "name": "bluesky_api",
        "endpoint": "GET https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile",
        "credentials": [],
        "active": True,
        "fields": listing["bluesky"][0]["fields"],
    }
    assert listing["bluesky"][-1]["name"] == "page"
    doc = client.get("/v1/openapi.json").get_json()
    operation = doc["paths"]["/v1/creators/platforms"]["get"]
    assert not operation.get("security")
    assert "PlatformsResponse" in doc["components"]["schemas"]
