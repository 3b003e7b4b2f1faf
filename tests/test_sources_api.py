"""Source chains end to end: ``GET /v1/creators/profile`` and a batch job item, with the real
database and a local TLS server answering for the real ``https://`` API and page hosts with
recorded responses (tests/tls_server.py; test-only settings FETCH_RESOLVER and FETCH_CA_BUNDLE).
"""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from app import db as app_db
from app.jobs import tasks
from tests.conftest import (
    assert_error,
    balance_of,
    fresh_client,
    make_funded_key,
    usage_ledger,
)
from tests.fixture_server import FIXTURES as PAGES
from tests.tls_server import Reply, TlsServer, app_reaching, recorded

HOSTS = ["public.api.bsky.app", "bsky.app", "mastodon.social"]
BSKY_URL = "https://bsky.app/profile/stephenking.bsky.social"
API_PATH = "/xrpc/app.bsky.actor.getProfile"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with TlsServer(HOSTS) as server:
        server.ca_path = server.write_ca(tmp_path_factory.mktemp("ca"))
        yield server


@pytest.fixture(scope="module")
def sources_app(database_url, tls):
    with app_reaching(tls, database_url) as flask_app:
        yield flask_app


@pytest.fixture
def client(sources_app, tls):
    tls.reset()
    return fresh_client(sources_app)


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
    assert usage_ledger(db, user_id) == [("usage", -1)]
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
    assert usage_ledger(db, user_id) == [("usage", -1)]


def test_every_source_failing_is_one_charge_and_one_refund(client, tls, db):
    user_id, key = make_funded_key(db, 3)
    tls.route("public.api.bsky.app", API_PATH, Reply(429, {"error": "RateLimitExceeded"}))
    tls.route("bsky.app", "/profile/stephenking.bsky.social", Reply(403, b"denied", "text/html"))
    response = client.get(
        "/v1/creators/profile", query_string={"url": BSKY_URL}, headers={"x-api-key": key}
    )
    error = assert_error(response, 502, "upstream_blocked")
    assert [s["source"] for s in error["details"]["sources"]] == ["bluesky_api", "page"]
    assert usage_ledger(db, user_id) == [("usage", -1), ("refund", 1)]
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
    assert usage_ledger(db, user_id) == [("usage", -1), ("refund", 1)]


def run_item(app, client, db, database_url, key: str, url: str) -> dict:
    """Create a one-URL job and process its item in this process (the worker's own code)."""
    created = client.post(
        "/v1/jobs/create", json={"urls": [url]}, headers={"x-api-key": key}
    ).get_json()["data"]
    item = db.execute(
        "select id, task_id from public.job_items where job_id = %s", (created["id"],)
    ).fetchone()
    kwargs = app_db.connection_kwargs(database_url)
    with ConnectionPool(database_url, kwargs=kwargs, min_size=1, max_size=2, open=True) as pool:
        runtime = tasks.configure(app.config, pool)
        tasks.process_item(runtime, item["id"], item["task_id"])
    return client.get(
        f"/v1/jobs/results?id={created['id']}", headers={"x-api-key": key}
    ).get_json()["data"][0]


def test_a_batch_job_item_goes_through_the_chain(sources_app, client, tls, db, database_url):
    user_id, key = make_funded_key(db, 5)
    tls.route("public.api.bsky.app", API_PATH, recorded("bluesky/getprofile_alice_snapshot.json"))
    result = run_item(sources_app, client, db, database_url, key, BSKY_URL)
    assert result["status"] == "succeeded"
    assert result["profile"]["sources"]["followers"] == "bluesky_api"
    assert balance_of(db, user_id) == 4


def test_in_jobs_a_429_from_an_api_host_backs_it_off_for_every_worker(
    sources_app, client, tls, db, database_url
):
    _, key = make_funded_key(db, 5)
    tls.route(
        "public.api.bsky.app",
        API_PATH,
        Reply(429, {"error": "RateLimitExceeded"}, headers={"Retry-After": "120"}),
    )
    tls.route(
        "bsky.app",
        "/profile/stephenking.bsky.social",
        Reply(200, (PAGES / "bluesky/stephenking.html").read_bytes(), "text/html"),
    )
    first = run_item(sources_app, client, db, database_url, key, BSKY_URL)
    assert first["status"] == "succeeded"
    assert first["profile"]["sources"]["followers"].startswith("page:")
    blocked = db.execute(
        "select extract(epoch from blocked_until - now())::float8 as left"
        "  from private.host_politeness where host = 'public.api.bsky.app'"
    ).fetchone()
    assert 100 < blocked["left"] <= 120
    second = run_item(sources_app, client, db, database_url, key, BSKY_URL)
    assert second["status"] == "succeeded"
    assert len(tls.requests_to("public.api.bsky.app")) == 1  # skipped while backed off


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


@pytest.mark.parametrize(
    "query",
    [
        {"url": "@Gargron@mastodon.social"},
        {"platform": "mastodon", "handle": "Gargron@mastodon.social"},
        {"url": "https://mastodon.social/@Gargron"},
    ],
    ids=["acct", "platform-handle", "url"],
)
def test_a_fediverse_account_by_address_handle_or_url(client, tls, db, query):
    _, key = make_funded_key(db, 3)
    tls.route(
        "mastodon.social",
        "/api/v1/accounts/lookup",
        recorded("mastodon/account_gargron_local.json"),
    )
    response = client.get("/v1/creators/profile", query_string=query, headers={"x-api-key": key})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert (data["platform"], data["handle"]) == ("mastodon", "Gargron@mastodon.social")
    assert data["external_links"][0] == "https://www.patreon.com/mastodon"
