"""``GET /v1/creators/profile`` end to end: real database, real keys, saved real pages served by
a local HTTP server (tests/fixture_server.py stands in for the public web)."""

from __future__ import annotations

import threading
import time

import pytest

from app.security import hash_api_key
from tests.conftest import (
    app_for_tests,
    assert_error,
    balance_of,
    fresh_client,
    ledger_sum,
    make_funded_key,
    make_key,
    make_user,
)
from tests.fixture_server import FixtureServer


@pytest.fixture(scope="module")
def fixtures_server():
    with FixtureServer() as server:
        yield server


@pytest.fixture(scope="module")
def scrape_app(database_url):
    """The app with the TEST-ONLY loopback setting on and tight fetch bounds."""
    with app_for_tests(
        database_url,
        FETCH_ALLOW_LOOPBACK=True,
        FETCH_CONNECT_TIMEOUT=1.0,
        FETCH_READ_TIMEOUT=1.0,
        FETCH_DEADLINE=2.0,
        FETCH_MAX_BYTES=1_000_000,
        FETCH_RETRIES=1,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def scrape_client(scrape_app):
    return fresh_client(scrape_app)


@pytest.fixture
def funded_key(db):
    return make_funded_key(db, 5)


def usage_and_refunds(db, user_id: str) -> list[tuple[str, int]]:
    rows = db.execute(
        "select reason, delta from public.credit_ledger where user_id = %s"
        " and reason in ('usage', 'refund') order by id",
        (user_id,),
    ).fetchall()
    return [(r["reason"], r["delta"]) for r in rows]


def test_profile_from_a_personal_site_charges_one_credit(
    scrape_client, fixtures_server, db, funded_key
):
    user_id, key = funded_key
    url = fixtures_server.url("/personal/kikobeats.com")
    response = scrape_client.get(
        "/v1/creators/profile", query_string={"url": url}, headers={"x-api-key": key}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["data"]["display_name"] == "Kiko Beats"
    assert body["data"]["external_links"][:1] == ["https://twitter.com/kikobeats"]
    assert body["meta"]["credits_charged"] == 1
    assert body["meta"]["credits_remaining"] == 4
    assert body["meta"]["cached"] is False
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    assert usage_and_refunds(db, user_id) == [("usage", -1)]
    assert balance_of(db, user_id) == ledger_sum(db, user_id) == 4


def test_second_lookup_is_a_cache_hit_and_max_age_zero_refetches(
    scrape_client, fixtures_server, db, funded_key
):
    user_id, key = funded_key
    path = "/personal/waterpigs.co.uk"
    url = fixtures_server.url(path)
    first = scrape_client.get(
        "/v1/creators/profile", query_string={"url": url}, headers={"x-api-key": key}
    )
    assert first.status_code == 200, first.get_json()
    hits_after_first = fixtures_server.hits[path]
    second = scrape_client.get(
        "/v1/creators/profile", query_string={"url": url}, headers={"x-api-key": key}
    )
    assert second.get_json()["meta"]["cached"] is True
    assert second.get_json()["data"] == first.get_json()["data"]
    assert second.get_json()["meta"]["fetched_at"] == first.get_json()["meta"]["fetched_at"]
    assert fixtures_server.hits[path] == hits_after_first
    fresh = scrape_client.get(
        "/v1/creators/profile", query_string={"url": url, "max_age": 0}, headers={"x-api-key": key}
    )
    assert fresh.get_json()["meta"]["cached"] is False
    assert fixtures_server.hits[path] == hits_after_first + 1
    assert balance_of(db, user_id) == 2  # three paid calls, as the README prices cache hits
    cached = db.execute("select count(*) as n from public.creator_profiles").fetchone()["n"]
    assert cached == 1


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/status/404", 404, "creator_not_found"),
        ("/status/500", 502, "upstream_error"),
        ("/status/403", 502, "upstream_blocked"),
        ("/sleep/5", 504, "upstream_timeout"),
        ("/big/3000000", 502, "upstream_error"),
        ("/json", 502, "upstream_error"),
    ],
)
def test_upstream_failures_refund_the_charge(
    scrape_client, fixtures_server, db, funded_key, path, status, code
):
    user_id, key = funded_key
    response = scrape_client.get(
        "/v1/creators/profile",
        query_string={"url": fixtures_server.url(path)},
        headers={"x-api-key": key},
    )
    assert_error(response, status, code)
    assert usage_and_refunds(db, user_id) == [("usage", -1), ("refund", 1)]
    assert balance_of(db, user_id) == ledger_sum(db, user_id) == 5


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",  # loopback is refused with the default setting (see below)
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
    ],
)
def test_disallowed_urls_are_400_before_any_charge(client, db, funded_key, url):
    user_id, key = funded_key
    response = client.get(
        "/v1/creators/profile", query_string={"url": url}, headers={"x-api-key": key}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in {"url_not_allowed", "validation_error"}
    assert usage_and_refunds(db, user_id) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "url"),
        ({"platform": "youtube"}, "handle"),
        ({"handle": "mkbhd"}, "platform"),
        ({"platform": "youtube", "handle": "bad handle!"}, "handle"),
        ({"platform": "myspace", "handle": "tom"}, "platform"),
        ({"url": "https://x.com/a", "platform": "x", "handle": "a"}, "url"),
        ({"url": "https://x.com/a", "max_age": -1}, "max_age"),
    ],
)
def test_bad_parameters_are_400_validation_error_and_free(client, db, funded_key, query, field):
    user_id, key = funded_key
    error = assert_error(
        client.get("/v1/creators/profile", query_string=query, headers={"x-api-key": key}),
        400,
        "validation_error",
    )
    assert error["details"]["fields"][0]["field"] == field
    assert balance_of(db, user_id) == 5


def test_insufficient_credits_fetches_nothing(scrape_client, fixtures_server, db):
    user_id = make_user(db, credits=0)
    key = make_key(db, user_id)
    path = "/personal/kikobeats.com"
    before = fixtures_server.hits[path]
    error = assert_error(
        scrape_client.get(
            "/v1/creators/profile",
            query_string={"url": fixtures_server.url(path)},
            headers={"x-api-key": key},
        ),
        402,
        "insufficient_credits",
    )
    assert error["details"] == {"required": 1, "balance": 0, "shortfall": 1}
    assert fixtures_server.hits[path] == before


def test_idempotency_key_replays_without_a_second_charge(
    scrape_client, fixtures_server, db, funded_key
):
    user_id, key = funded_key
    query = {"url": fixtures_server.url("/personal/kikobeats.com"), "max_age": 0}
    headers = {"x-api-key": key, "Idempotency-Key": "order-1"}
    first = scrape_client.get("/v1/creators/profile", query_string=query, headers=headers)
    again = scrape_client.get("/v1/creators/profile", query_string=query, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance_of(db, user_id) == 4

    other = scrape_client.get(
        "/v1/creators/profile",
        query_string={"url": fixtures_server.url("/personal/waterpigs.co.uk")},
        headers=headers,
    )
    assert_error(other, 409, "idempotency_conflict")
    assert balance_of(db, user_id) == 4


def test_failed_request_does_not_pin_its_idempotency_key(
    scrape_client, fixtures_server, db, funded_key
):
    user_id, key = funded_key
    headers = {"x-api-key": key, "Idempotency-Key": "retry-me"}
    query = {"url": fixtures_server.url("/flaky/3/personal/kikobeats.com"), "max_age": 0}
    failed = scrape_client.get("/v1/creators/profile", query_string=query, headers=headers)
    assert_error(failed, 502, "upstream_error")
    retried = scrape_client.get("/v1/creators/profile", query_string=query, headers=headers)
    assert retried.status_code == 200, retried.get_json()
    assert balance_of(db, user_id) == 4


def test_profile_endpoint_is_in_the_openapi_document(client):
    doc = client.get("/v1/openapi.json").get_json()
    operation = doc["paths"]["/v1/creators/profile"]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert names == {"url", "platform", "handle", "max_age"}
    described = " ".join(r["description"] for r in operation["responses"].values())
    for code in (
        "creator_not_found",
        "upstream_blocked",
        "upstream_timeout",
        "url_not_allowed",
        "insufficient_credits",
        "idempotency_conflict",
    ):
        assert code in described
    assert "CreatorProfile" in doc["components"]["schemas"]


@pytest.fixture(scope="module")
def platform_app(database_url):
    """Like scrape_app, but every host name resolves to 127.0.0.1, so saved pages are served
    under their platform's real host name and reach that platform's extractor."""
    with app_for_tests(
        database_url,
        FETCH_ALLOW_LOOPBACK=True,
        FETCH_RESOLVER=lambda host, port: ["127.0.0.1"],
        FETCH_DEADLINE=5.0,
    ) as flask_app:
        yield flask_app


def test_platform_page_reaches_its_extractor(platform_app, fixtures_server, db, funded_key):
    user_id, key = funded_key
    port = fixtures_server.server_address[1]
    url = f"http://www.youtube.com:{port}/youtube/onemedia-2024"
    response = platform_app.test_client().get(
        "/v1/creators/profile", query_string={"url": url}, headers={"x-api-key": key}
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["platform"] == "youtube"
    assert data["platform_user_id"].startswith("UC")
    assert isinstance(data["followers"], int)
    assert balance_of(db, user_id) == 4


def test_empty_app_shell_is_upstream_blocked_and_refunded(
    platform_app, fixtures_server, db, funded_key
):
    user_id, key = funded_key
    port = fixtures_server.server_address[1]
    url = f"http://www.twitch.tv:{port}/twitch/twit-2021-shell"
    response = platform_app.test_client().get(
        "/v1/creators/profile", query_string={"url": url}, headers={"x-api-key": key}
    )
    error = assert_error(response, 502, "upstream_blocked")
    assert error["details"]["reason"] == "empty_page"
    assert usage_and_refunds(db, user_id) == [("usage", -1), ("refund", 1)]
    assert balance_of(db, user_id) == 5


def test_the_profile_cache_is_not_readable_through_the_data_api(db):
    """The paid cache is service-only: users read what they paid for through their lookups
    (tests/test_lookups.py), never the whole cache."""
    import psycopg

    from tests.conftest import as_user

    db.execute(
        "insert into public.creator_profiles (platform, handle, profile_url, data)"
        " values ('x', 'someone', 'https://x.com/someone', '{\"handle\": \"someone\"}')"
    )
    reader = make_user(db)
    for user, role in ((reader, "authenticated"), (None, "anon")):
        for statement in (
            "select * from public.creator_profiles",
            "delete from public.creator_profiles",
        ):
            with as_user(db, user, role=role), pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(statement)


def _pending_claim(db, key: str, idem_key: str, age_seconds: int) -> None:
    """A claim as left by a first request that is still running (or whose process died)."""
    db.execute(
        "insert into private.idempotency_keys (api_key_hash, idempotency_key,"
        " request_fingerprint, created_at) values (%s, %s, 'x', now() - make_interval(secs => %s))",
        (hash_api_key(key), idem_key, age_seconds),
    )


def test_retry_while_the_first_request_runs_is_409_in_progress(
    scrape_app, fixtures_server, db, funded_key
):
    user_id, key = funded_key
    query = {"url": fixtures_server.url("/latency/800/personal/kikobeats.com")}
    headers = {"x-api-key": key, "Idempotency-Key": "busy"}
    first: dict = {}

    def slow_first() -> None:
        first["response"] = scrape_app.test_client().get(
            "/v1/creators/profile", query_string=query, headers=headers
        )

    thread = threading.Thread(target=slow_first)
    thread.start()
    time.sleep(0.3)
    second = scrape_app.test_client().get(
        "/v1/creators/profile", query_string=query, headers=headers
    )
    thread.join()
    assert_error(second, 409, "idempotency_in_progress")
    assert first["response"].status_code == 200
    assert balance_of(db, user_id) == 4  # one charge, for the first request only


def test_abandoned_claim_is_taken_over(scrape_client, fixtures_server, db, funded_key):
    user_id, key = funded_key
    _pending_claim(db, key, "orphan", age_seconds=3600)
    response = scrape_client.get(
        "/v1/creators/profile",
        query_string={"url": fixtures_server.url("/personal/kikobeats.com")},
        headers={"x-api-key": key, "Idempotency-Key": "orphan"},
    )
    assert response.status_code == 200, response.get_json()
    assert balance_of(db, user_id) == 4
