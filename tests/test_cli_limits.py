"""Admin CLI guard rails: the key limit on `keys create`, demo keys replaced on every
`quickstart`, and no expired tokens from `tokens mint`."""

from __future__ import annotations

import re

import pytest

from app.security import KEY_PREFIX
from tests.conftest import app_for_tests

KEY_RE = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{36}}")


@pytest.fixture(scope="module")
def small_limit_app(database_url):
    with app_for_tests(database_url, MAX_ACTIVE_KEYS_PER_USER=2) as flask_app:
        yield flask_app


@pytest.fixture
def cli(small_limit_app):
    runner = small_limit_app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def active_keys(db, email: str, name: str | None = None) -> int:
    return db.execute(
        "select count(*) as n from public.api_keys k join public.profiles p on p.id = k.user_id"
        " where p.email = %s and k.revoked_at is null and (%s::text is null or k.name = %s)",
        (email, name, name),
    ).fetchone()["n"]


def test_keys_create_respects_the_active_key_limit(cli, db):
    assert cli("users", "create", "ann@example.com").exit_code == 0
    for _ in range(2):
        result = cli("keys", "create", "ann@example.com")
        assert result.exit_code == 0, result.output
    refused = cli("keys", "create", "ann@example.com")
    assert refused.exit_code == 1
    assert "2 active keys" in refused.output and "MAX_ACTIVE_KEYS_PER_USER" in refused.output
    assert KEY_RE.search(refused.output) is None
    assert active_keys(db, "ann@example.com") == 2


def test_quickstart_replaces_the_demo_key_instead_of_adding_one(cli, db, small_limit_app):
    keys = []
    for _ in range(4):  # more restarts than the limit allows keys
        result = cli("quickstart", "--email", "demo@example.com")
        assert result.exit_code == 0, result.output
        keys.append(KEY_RE.search(result.output).group(0))
    assert len(set(keys)) == 4
    assert active_keys(db, "demo@example.com") == 1
    rows = db.execute(
        "select expires_at > now() + interval '29 days' as later, revoked_at is null as active"
        "  from public.api_keys order by created_at"
    ).fetchall()
    assert [r["active"] for r in rows] == [False, False, False, True]
    assert all(r["later"] for r in rows)  # never a key that lives forever
    client = small_limit_app.test_client()
    assert client.get("/v1/credits/balance", headers={"x-api-key": keys[-1]}).status_code == 200
    assert client.get("/v1/credits/balance", headers={"x-api-key": keys[0]}).status_code == 401


@pytest.mark.parametrize("ttl", ["-5", "0"])
def test_tokens_mint_refuses_a_lifetime_that_is_not_positive(cli, ttl):
    assert cli("users", "create", "ann@example.com").exit_code == 0
    result = cli("tokens", "mint", "ann@example.com", "--ttl", ttl)
    assert result.exit_code == 2
    assert "--ttl" in result.output
    assert "eyJ" not in result.output
