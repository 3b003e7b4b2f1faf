"""The admin CLI (``flask --app wsgi ...``) against the real test database."""

from __future__ import annotations

import re

import pytest

from app.security import KEY_PREFIX, hash_api_key
from tests.conftest import balance_of, ledger_sum

KEY_RE = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{36}}")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        result = runner.invoke(args=list(args))
        return result

    return invoke


def test_users_keys_and_credits_round_trip(cli, client, db):
    created = cli("users", "create", "Ann@Example.com")
    assert created.exit_code == 0, created.output
    user_id = re.search(r"created user ([0-9a-f-]{36})", created.output).group(1)
    assert "<ann@example.com>" in created.output

    duplicate = cli("users", "create", "ann@example.com")
    assert duplicate.exit_code == 1
    assert "exists" in duplicate.output

    minted = cli("keys", "create", "ann@example.com", "--name", "laptop")
    assert minted.exit_code == 0, minted.output
    key = KEY_RE.search(minted.output).group(0)
    stored = db.execute(
        "select h.key_hash, k.name, k.prefix from public.api_keys k"
        " join private.api_key_hashes h on h.key_id = k.id where k.user_id = %s",
        (user_id,),
    ).fetchone()
    assert stored == {"key_hash": hash_api_key(key), "name": "laptop", "prefix": key[:12]}

    granted = cli("credits", "grant", "ann@example.com", "40", "--ref", "invoice-1")
    again = cli("credits", "grant", "ann@example.com", "40", "--ref", "invoice-1")
    assert "granted; balance 40" in granted.output
    assert "already granted (same ref); balance 40" in again.output
    assert balance_of(db, user_id) == ledger_sum(db, user_id) == 40
    assert cli("credits", "balance", "ann@example.com").output.strip() == "40"

    assert client.get("/v1/credits/balance", headers={"x-api-key": key}).status_code == 200
    key_id = db.execute("select id from public.api_keys where user_id = %s", (user_id,)).fetchone()
    revoked = cli("keys", "revoke", str(key_id["id"]))
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {key[:12]}..." in revoked.output
    assert client.get("/v1/credits/balance", headers={"x-api-key": key}).status_code == 401
    listed = cli("keys", "list", "ann@example.com").output
    assert "laptop" in listed and "revoked" in listed


def test_plan_changes_and_unknown_users_are_errors(cli, db):
    cli("users", "create", "bob@example.com")
    assert cli("users", "plan", "bob@example.com", "pro").exit_code == 0
    plan = db.execute("select plan from public.profiles where email = 'bob@example.com'")
    assert plan.fetchone()["plan"] == "pro"
    missing = cli("credits", "balance", "nobody@example.com")
    assert missing.exit_code == 1
    assert "no user with e-mail nobody@example.com" in missing.output
    assert cli("credits", "grant", "bob@example.com", "0").exit_code == 2


def test_quickstart_prints_a_working_key_and_curl_line(cli, client, db):
    db.execute("update private.settings set value = '25' where key = 'signup_credits'")
    result = cli("quickstart", "--email", "demo@example.com", "--port", "8123")
    assert result.exit_code == 0, result.output
    key = KEY_RE.search(result.output).group(0)
    assert f"curl -s -H 'x-api-key: {key}' http://127.0.0.1:8123/v1/credits/balance" in (
        result.output
    )
    body = client.get("/v1/credits/balance", headers={"x-api-key": key}).get_json()
    assert body["data"]["balance"] == 25


def test_db_migrate_reports_up_to_date(cli):
    result = cli("db", "migrate")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "database is up to date"
