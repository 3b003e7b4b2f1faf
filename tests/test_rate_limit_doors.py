"""Every door is rate-limited: failed authentication per client address, Bearer calls per user,
and sign-up/login/refresh per address; the address comes from ProxyFix with TRUSTED_PROXIES."""

from __future__ import annotations

import pytest

from app.queries import credits as credit_queries
from app.security import generate_api_key
from tests.conftest import (
    app_for_tests,
    assert_error,
    bearer,
    bearer_for,
    fresh_client,
    make_funded_key,
    make_user,
)

SETTINGS = {
    "RATELIMIT_AUTH_FAILURES": "20 per minute",
    "RATELIMIT_BEARER": "3 per minute",
    "RATELIMIT_AUTH_ENDPOINTS": "2 per minute",
    "RATELIMIT_PLAN_LIMITS": {"free": "1000 per minute"},
}


@pytest.fixture(scope="module")
def doors_app(database_url):
    with app_for_tests(database_url, **SETTINGS) as flask_app:
        yield flask_app


@pytest.fixture(scope="module")
def proxied_app(database_url):
    with app_for_tests(database_url, TRUSTED_PROXIES=1, **SETTINGS) as flask_app:
        yield flask_app


@pytest.fixture
def dc(doors_app):
    return fresh_client(doors_app)


@pytest.fixture
def spend_calls(monkeypatch):
    """Counts calls of the real ``spend_credits`` query (each is a database transaction)."""
    calls = []
    real = credit_queries.spend

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(credit_queries, "spend", counted)
    return calls


def random_keys(n: int) -> list[str]:
    return [generate_api_key().plaintext for _ in range(n)]


def test_failed_api_key_authentication_is_limited_per_address(dc, spend_calls):
    statuses = []
    for key in random_keys(200):
        response = dc.get("/v1/credits/balance", headers={"x-api-key": key})
        statuses.append(response.status_code)
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    refused = dc.get("/v1/credits/balance", headers={"x-api-key": random_keys(1)[0]})
    error = assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert error["details"]["retry_after"] == int(refused.headers["Retry-After"])
    assert len(spend_calls) == 20  # no database call once the address is refused
    malformed = dc.get("/v1/credits/balance", headers={"x-api-key": "cs_live_nope"})
    assert_error(malformed, 429, "rate_limited")


def test_a_valid_keys_calls_never_count_and_it_keeps_working(dc, db):
    _, key = make_funded_key(db, 5)
    for _ in range(50):
        assert dc.get("/v1/credits/balance", headers={"x-api-key": key}).status_code == 200
    bad = [dc.get("/v1/credits/balance", headers={"x-api-key": k}) for k in random_keys(21)]
    assert [r.status_code for r in bad] == [401] * 20 + [429]
    ok = dc.get("/v1/credits/balance", headers={"x-api-key": key})
    assert ok.status_code == 200  # seen succeeding: never refused for its address's failures


def test_invalid_bearer_tokens_count_as_failed_authentication(dc):
    statuses = [
        dc.get("/v1/keys/list", headers=bearer(f"not-a-token-{i}")).status_code for i in range(25)
    ]
    assert statuses == [401] * 20 + [429] * 5


def test_bearer_endpoints_are_limited_per_user_with_headers(dc, db, doors_app):
    ann = bearer_for(doors_app, make_user(db))
    bob = bearer_for(doors_app, make_user(db))
    remaining = []
    for _ in range(3):
        response = dc.get("/v1/keys/list", headers=ann)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert int(response.headers["X-RateLimit-Reset"]) > 1_700_000_000
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = dc.post("/v1/keys/create", json={"name": "x"}, headers=ann)
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert dc.get("/v1/keys/list", headers=bob).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/auth/signup", {"email": "ann@example.com", "password": "correct-horse"}),
        ("/v1/auth/login", {"email": "ann@example.com", "password": "correct-horse"}),
        ("/v1/auth/refresh", {"refresh_token": "r1"}),
    ],
)
def test_auth_endpoints_are_limited_per_address(dc, path, body):
    for _ in range(2):
        response = dc.post(path, json=body)
        assert_error(response, 503, "auth_unavailable")  # Supabase Auth not configured here
        assert response.headers["X-RateLimit-Limit"] == "2"
    assert_error(dc.post(path, json=body), 429, "rate_limited")


def test_forwarded_addresses_count_only_behind_trusted_proxies(dc, proxied_app):
    spoofed = [
        dc.post(
            "/v1/auth/login",
            json={"email": "a@example.com", "password": "secret1"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert spoofed == [503, 503, 429]  # without TRUSTED_PROXIES the header is ignored
    pc = fresh_client(proxied_app)
    behind_proxy = [
        pc.post(
            "/v1/auth/login",
            json={"email": "a@example.com", "password": "secret1"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert behind_proxy == [503, 503, 503]  # three clients, one request each


@pytest.mark.parametrize(
    "setting", ["RATELIMIT_AUTH_FAILURES", "RATELIMIT_BEARER", "RATELIMIT_AUTH_ENDPOINTS"]
)
def test_malformed_limit_settings_fail_at_start_up(database_url, setting):
    from app.config import ConfigError

    with (
        pytest.raises(ConfigError, match=setting),
        app_for_tests(database_url, **{setting: "lots"}),
    ):
        pass


def test_negative_trusted_proxies_fail_at_start_up():
    from app.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_config({"TRUSTED_PROXIES": "-1"})
