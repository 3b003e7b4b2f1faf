"""The documented behaviour when the rate-limit storage is down: requests are served, and
limits are counted in process memory until the storage is back."""

from __future__ import annotations

import pytest

from app.security import generate_api_key
from tests.conftest import app_for_tests, assert_error, fresh_client, make_key, make_user


@pytest.fixture
def app_with_dead_redis(database_url):
    with app_for_tests(
        database_url,
        # nothing listens on port 1: every storage call fails at once
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        RATELIMIT_PLAN_LIMITS={"free": "2 per minute"},
        RATELIMIT_AUTH_FAILURES="2 per minute",
        LOG_LEVEL="CRITICAL",
    ) as broken:
        yield broken


def test_requests_pass_and_memory_fallback_still_limits(app_with_dead_redis, db):
    key = make_key(db, make_user(db, credits=1))
    client = app_with_dead_redis.test_client()
    responses = [client.get("/v1/credits/balance", headers={"x-api-key": key}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert int(responses[2].headers["Retry-After"]) >= 1


def test_failed_authentications_still_count_while_the_storage_is_down(app_with_dead_redis):
    client = app_with_dead_redis.test_client()
    unknown = generate_api_key().plaintext  # well-formed, but no such key
    statuses = [
        client.get("/v1/credits/balance", headers={"x-api-key": unknown}).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_the_storage_is_used_again_once_it_answers(app, db, monkeypatch):
    """A storage error sends counting to memory for STORAGE_RETRY seconds, then back."""
    client = fresh_client(app)
    key = make_key(db, make_user(db, credits=1))
    counters = app.extensions["rate_limits"]
    real_incr = counters.storage.storage.incr

    def failing_incr(*args, **kwargs):
        raise ConnectionError("storage down (test)")

    monkeypatch.setattr(counters.storage.storage, "incr", failing_incr)
    first = client.get("/v1/credits/balance", headers={"x-api-key": key})
    monkeypatch.setattr(counters.storage.storage, "incr", real_incr)
    in_memory = client.get("/v1/credits/balance", headers={"x-api-key": key})
    counters.down_until = 0.0  # STORAGE_RETRY seconds have passed
    back = client.get("/v1/credits/balance", headers={"x-api-key": key})

    assert [first.status_code, in_memory.status_code, back.status_code] == [200, 200, 200]
    # 60 per minute: the first two calls were counted in memory, the third by the storage
    assert [r.headers["X-RateLimit-Remaining"] for r in (first, in_memory, back)] == [
        "59",
        "58",
        "59",
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"RATELIMIT_PLAN_LIMITS": {"free": "lots"}},
        {"RATELIMIT_PLAN_LIMITS": {"pro": "10 per minute"}},  # no limit for the default plan
    ],
)
def test_malformed_plan_limits_fail_at_start_up(database_url, overrides):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="RATELIMIT_"), app_for_tests(database_url, **overrides):
        pass


def test_a_429_of_the_per_key_limit_uses_the_envelope(database_url, db):
    with app_for_tests(database_url, RATELIMIT_PLAN_LIMITS={"free": "1 per minute"}) as one:
        client = fresh_client(one)
        key = make_key(db, make_user(db, credits=1))
        client.get("/v1/credits/balance", headers={"x-api-key": key})
        limited = client.get("/v1/credits/balance", headers={"x-api-key": key})
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["X-RateLimit-Limit"] == "1"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_retry_after_never_ends_before_the_window():
    import time

    from limits.util import WindowStats

    from app.limits import retry_after

    now = time.time()
    assert retry_after(WindowStats(now + 59.3, 0)) == 60  # 59 would come back 0.3 s too early
    assert retry_after(WindowStats(now + 0.2, 0)) == 1
    assert retry_after(WindowStats(now - 5, 0)) == 1  # already reset: still at least 1
