"""The Supabase Auth "before user created" hook (a Postgres function), called the way Supabase
Auth calls it: as ``supabase_auth_admin``, with the hook's real event shape."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent


def hook_event(email: str) -> dict:
    """The event Supabase Auth sends to a before-user-created hook (docs: Auth Hooks -> Before
    User Created Hook -> Inputs)."""
    return {
        "metadata": {
            "uuid": "8b34dcdd-9df1-4c10-850a-b3277c653040",
            "time": "2025-04-29T13:13:24.755552-07:00",
            "name": "before-user-created",
            "ip_address": "127.0.0.1",
        },
        "user": {
            "id": "ff7fc9ae-3b1b-4642-9241-64adb9848a03",
            "aud": "authenticated",
            "role": "",
            "email": email,
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "identities": [],
            "created_at": "0001-01-01T00:00:00Z",
            "updated_at": "0001-01-01T00:00:00Z",
            "is_anonymous": False,
        },
    }


@pytest.fixture
def blocklist(db):
    db.execute(
        "insert into private.signup_blocked_domains (domain, reason)"
        " values ('mailinator.com', 'disposable'), ('farm.example', 'abuse')"
    )
    yield
    db.execute("truncate private.signup_blocked_domains")


def call_hook(db, event: dict, role: str = "supabase_auth_admin") -> dict:
    with db.transaction(force_rollback=True):
        db.execute(f"set local role {role}")
        return db.execute(
            "select public.hook_before_user_created(%s::jsonb) as r", (json.dumps(event),)
        ).fetchone()["r"]


REFUSED = {
    "error": {
        "http_code": 403,
        "message": "Sign-ups with e-mail addresses at this domain are not allowed.",
    }
}


@pytest.mark.parametrize(
    "email",
    ["bot1@mailinator.com", "Bot2@MAILINATOR.COM", "x@eu.mailinator.com", " y@farm.example. "],
)
def test_blocked_domains_and_their_subdomains_are_refused(db, blocklist, email):
    assert call_hook(db, hook_event(email)) == REFUSED


@pytest.mark.parametrize(
    "email", ["ann@example.com", "ann@notmailinator.com", "mailinator.com@gmail.com", "", None]
)
def test_other_addresses_and_users_without_email_are_allowed(db, blocklist, email):
    event = hook_event(email)
    if email is None:
        del event["user"]["email"]  # phone and anonymous sign-ups carry no e-mail
    assert call_hook(db, event) == {}


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_can_neither_run_the_hook_nor_read_the_list(db, blocklist, role):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        call_hook(db, hook_event("ann@example.com"), role)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction(force_rollback=True):
        db.execute(f"set local role {role}")
        db.execute("select domain from private.signup_blocked_domains")


def test_blocklist_refuses_entries_the_hook_could_not_match(db):
    for bad in ("Mailinator.com", "@mailinator.com", "mailinator", "x y.com"):
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute("insert into private.signup_blocked_domains (domain) values (%s)", (bad,))


def test_the_hook_is_enabled_in_the_supabase_config(db):
    config = tomllib.loads((ROOT / "supabase" / "config.toml").read_text())
    hook = config["auth"]["hook"]["before_user_created"]
    assert hook["enabled"] is True
    schema, name = hook["uri"].removeprefix("pg-functions://postgres/").split("/")
    found = db.execute(
        "select to_regprocedure(%s) is not null as ok", (f"{schema}.{name}(jsonb)",)
    ).fetchone()["ok"]
    assert found
