"""The documented behaviour when the rate-limit storage is down: requests are served, and
limits are counted in process memory until the storage is back."""

from __future__ import annotations

import pytest

from app import limits
from tests.conftest import app_for_tests, make_key, make_user


@pytest.fixture
def app_with_dead_redis(database_url, app):
    with app_for_tests(
        database_url,
        # nothing listens on port 1: every storage call fails at once
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",
        RATELIMIT_PLAN_LIMITS={"free": "2 per minute"},
        LOG_LEVEL="CRITICAL",
    ) as broken:
        yield broken
    limits.init_app(app)  # rebind the shared limiter to the session app's memory storage


def test_requests_pass_and_memory_fallback_still_limits(app_with_dead_redis, db):
    key = make_key(db, make_user(db, credits=1))
    client = app_with_dead_redis.test_client()
    statuses = [
        client.get("/v1/credits/balance", headers={"x-api-key": key}).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
