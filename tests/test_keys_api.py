"""API-key management: /v1/keys/create, list, revoke, rotate (Bearer auth, as the user, RLS)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
import pytest

from app.security import is_well_formed
from tests.conftest import (
    app_for_tests,
    as_user,
    assert_error,
    bearer_for,
    fresh_client,
    make_key,
    make_user,
)

SHORT_GRACE_SECONDS = 2


@pytest.fixture(scope="module")
def small_app(database_url):
    """An app with a limit of 2 active keys and a 2-second rotation grace period."""
    with app_for_tests(
        database_url,
        SUPABASE_JWT_SECRET="small-app-secret-" + "x" * 32,
        MAX_ACTIVE_KEYS_PER_USER=2,
        KEY_ROTATION_GRACE_SECONDS=SHORT_GRACE_SECONDS,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def small_client(small_app):
    return fresh_client(small_app)


def create(client, headers, **body):
    return client.post("/v1/keys/create", json={"name": "laptop", **body}, headers=headers)


def balance_with(client, key: str):
    return client.get("/v1/credits/balance", headers={"x-api-key": key})


PUBLIC_FIELDS = {
    "id",
    "name",
    "prefix",
    "scopes",
    "status",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
}


# -- create ----------------------------------------------------------------------------------------


def test_create_shows_plaintext_once_and_it_works_at_once(app, client, db):
    user = make_user(db, credits=7)
    headers = bearer_for(app, user)
    response = create(client, headers, scopes=["creators:read"])
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert set(data) == PUBLIC_FIELDS | {"key"}
    key = data["key"]
    assert is_well_formed(key)
    assert data["prefix"] == key[:12]
    assert (data["name"], data["scopes"], data["status"]) == ("laptop", ["creators:read"], "active")
    assert data["revoked_at"] is None and data["expires_at"] is None

    stored = db.execute(
        "select k.user_id, h.key_hash, k.prefix from public.api_keys k"
        " join private.api_key_hashes h on h.key_id = k.id where k.id = %s",
        (data["id"],),
    ).fetchone()
    assert str(stored["user_id"]) == user
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()

    used = balance_with(client, key)
    assert used.status_code == 200
    assert used.get_json()["data"] == {"balance": 7, "plan": "free"}

    listed = client.get("/v1/keys/list", headers=headers)
    assert key not in listed.get_data(as_text=True)
    assert listed.get_json()["data"][0]["id"] == data["id"]
    assert "key" not in listed.get_json()["data"][0]


def test_create_with_expiry(app, client, db):
    user = make_user(db)
    response = create(client, bearer_for(app, user), expires_in_days=30)
    assert response.status_code == 201
    expires_at = datetime.fromisoformat(response.get_json()["data"]["expires_at"])
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((expires_at - expected).total_seconds()) < 60


# -- list ------------------------------------------------------------------------------------------


def test_list_shows_public_fields_and_status_never_the_hash(app, client, db):
    user = make_user(db)
    now = datetime.now(UTC)
    make_key(db, user, name="old", revoked_at=now - timedelta(days=1))
    make_key(db, user, name="stale", expires_at=now - timedelta(seconds=1))
    key = make_key(db, user, name="live")
    hashes = [
        r["key_hash"] for r in db.execute("select key_hash from private.api_key_hashes").fetchall()
    ]

    response = client.get("/v1/keys/list", headers=bearer_for(app, user))
    assert response.status_code == 200
    body = response.get_json()
    text = response.get_data(as_text=True)
    assert all(h not in text for h in hashes)
    assert key not in text
    assert all(set(item) == PUBLIC_FIELDS for item in body["data"])
    assert {item["name"]: item["status"] for item in body["data"]} == {
        "old": "revoked",
        "stale": "expired",
        "live": "active",
    }
    assert body["meta"]["has_more"] is False and body["meta"]["next_cursor"] is None


def test_list_is_cursor_paginated_newest_first(app, client, db):
    user = make_user(db)
    headers = bearer_for(app, user)
    names = ["k1", "k2", "k3"]
    for name in names:
        assert create(client, headers, name=name).status_code == 201
    first = client.get("/v1/keys/list?limit=2", headers=headers).get_json()
    assert [k["name"] for k in first["data"]] == ["k3", "k2"]
    assert first["meta"]["has_more"] is True
    cursor = first["meta"]["next_cursor"]
    second = client.get(f"/v1/keys/list?limit=2&cursor={cursor}", headers=headers).get_json()
    assert [k["name"] for k in second["data"]] == ["k1"]
    assert second["meta"] == {
        "request_id": second["meta"]["request_id"],
        "has_more": False,
        "next_cursor": None,
    }


# -- revoke ----------------------------------------------------------------------------------------


def test_revoke_takes_effect_on_the_next_request_and_is_idempotent(app, client, db):
    user = make_user(db, credits=3)
    headers = bearer_for(app, user)
    created = create(client, headers).get_json()["data"]
    assert balance_with(client, created["key"]).status_code == 200

    revoked = client.post("/v1/keys/revoke", json={"key_id": created["id"]}, headers=headers)
    assert revoked.status_code == 200
    data = revoked.get_json()["data"]
    assert (data["id"], data["status"]) == (created["id"], "revoked")
    assert data["revoked_at"] is not None
    assert_error(balance_with(client, created["key"]), 401, "invalid_api_key")

    again = client.post("/v1/keys/revoke", json={"key_id": created["id"]}, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["data"]["revoked_at"] == data["revoked_at"]


def test_revoke_unknown_key_is_404(app, client, db):
    user = make_user(db)
    response = client.post(
        "/v1/keys/revoke", json={"key_id": str(uuid.uuid4())}, headers=bearer_for(app, user)
    )
    assert_error(response, 404, "not_found")


# -- rotate ----------------------------------------------------------------------------------------


def test_rotate_issues_a_new_key_and_keeps_the_old_one_for_the_default_grace(app, client, db):
    user = make_user(db, credits=5)
    headers = bearer_for(app, user)
    old = create(client, headers, name="ci", scopes=["creators:read"]).get_json()["data"]

    response = client.post("/v1/keys/rotate", json={"key_id": old["id"]}, headers=headers)
    assert response.status_code == 201
    new = response.get_json()["data"]
    assert set(new) == PUBLIC_FIELDS | {"key", "replaced_key_id", "replaced_key_revoked_at"}
    assert new["key"] != old["key"] and is_well_formed(new["key"])
    assert (new["name"], new["scopes"], new["status"]) == ("ci", ["creators:read"], "active")
    assert new["replaced_key_id"] == old["id"]
    grace_end = datetime.fromisoformat(new["replaced_key_revoked_at"])
    assert abs((grace_end - datetime.now(UTC)).total_seconds() - 86400) < 60

    assert balance_with(client, new["key"]).status_code == 200
    assert balance_with(client, old["key"]).status_code == 200  # still inside the grace period
    listed = {k["id"]: k for k in client.get("/v1/keys/list", headers=headers).get_json()["data"]}
    assert listed[old["id"]]["status"] == "rotating"
    assert listed[new["id"]]["status"] == "active"

    # A key being rotated cannot be rotated again; revoking it ends the grace period now.
    again = client.post("/v1/keys/rotate", json={"key_id": old["id"]}, headers=headers)
    assert_error(again, 409, "key_not_active")
    ended = client.post("/v1/keys/revoke", json={"key_id": old["id"]}, headers=headers)
    assert ended.get_json()["data"]["status"] == "revoked"
    assert_error(balance_with(client, old["key"]), 401, "invalid_api_key")
    assert balance_with(client, new["key"]).status_code == 200


def test_rotated_key_works_until_the_grace_period_ends_then_401(small_app, small_client, db):
    user = make_user(db, credits=5)
    headers = bearer_for(small_app, user)
    old = create(small_client, headers).get_json()["data"]
    rotated = small_client.post("/v1/keys/rotate", json={"key_id": old["id"]}, headers=headers)
    assert rotated.status_code == 201
    new = rotated.get_json()["data"]
    grace_end = datetime.fromisoformat(new["replaced_key_revoked_at"])
    assert 0 < (grace_end - datetime.now(UTC)).total_seconds() <= SHORT_GRACE_SECONDS

    assert balance_with(small_client, old["key"]).status_code == 200
    time.sleep(max(0.0, (grace_end - datetime.now(UTC)).total_seconds()) + 0.3)
    assert_error(balance_with(small_client, old["key"]), 401, "invalid_api_key")
    assert balance_with(small_client, new["key"]).status_code == 200


def test_rotate_with_new_expiry_and_of_revoked_or_expired_keys(app, client, db):
    user = make_user(db)
    headers = bearer_for(app, user)
    key = create(client, headers, expires_in_days=5).get_json()["data"]
    kept = client.post("/v1/keys/rotate", json={"key_id": key["id"]}, headers=headers)
    assert kept.get_json()["data"]["expires_at"] == key["expires_at"]  # inherits the expiry

    other = create(client, headers, name="other").get_json()["data"]
    longer = client.post(
        "/v1/keys/rotate", json={"key_id": other["id"], "expires_in_days": 90}, headers=headers
    )
    expires_at = datetime.fromisoformat(longer.get_json()["data"]["expires_at"])
    assert abs((expires_at - datetime.now(UTC) - timedelta(days=90)).total_seconds()) < 60

    now = datetime.now(UTC)
    make_key(db, user, name="dead", revoked_at=now)
    make_key(db, user, name="gone", expires_at=now - timedelta(seconds=1))
    for name in ("dead", "gone"):
        key_id = db.execute("select id from public.api_keys where name = %s", (name,)).fetchone()[
            "id"
        ]
        response = client.post("/v1/keys/rotate", json={"key_id": str(key_id)}, headers=headers)
        assert_error(response, 409, "key_not_active")


# -- the active-key limit --------------------------------------------------------------------------


def test_key_limit_from_config_is_409_and_revoking_frees_a_slot(app, client, db):
    limit = app.config["MAX_ACTIVE_KEYS_PER_USER"]
    assert limit == 10
    user = make_user(db)
    headers = bearer_for(app, user)
    ids = [create(client, headers, name=f"k{i}").get_json()["data"]["id"] for i in range(limit)]
    error = assert_error(create(client, headers, name="one-too-many"), 409, "key_limit_reached")
    assert error["details"] == {"limit": 10, "active": 10}

    client.post("/v1/keys/revoke", json={"key_id": ids[0]}, headers=headers)
    assert create(client, headers, name="fits-again").status_code == 201
    count = db.execute(
        "select count(*) as n from public.api_keys where user_id = %s and revoked_at is null",
        (user,),
    ).fetchone()["n"]
    assert count == 10


def test_rotation_grace_keys_are_capped_at_twice_the_limit(small_app, small_client, db):
    user = make_user(db)
    headers = bearer_for(small_app, user)
    first = create(small_client, headers, name="a").get_json()["data"]
    second = create(small_client, headers, name="b").get_json()["data"]
    error = assert_error(create(small_client, headers, name="c"), 409, "key_limit_reached")
    assert error["details"] == {"limit": 2, "active": 2}

    # Rotating replaces a key: allowed at the limit, the old key in its grace period.
    a2 = small_client.post("/v1/keys/rotate", json={"key_id": first["id"]}, headers=headers)
    b2 = small_client.post("/v1/keys/rotate", json={"key_id": second["id"]}, headers=headers)
    assert (a2.status_code, b2.status_code) == (201, 201)
    # 2 active + 2 in grace = 4 usable keys = twice the limit: no further rotation for now.
    a3 = small_client.post(
        "/v1/keys/rotate", json={"key_id": a2.get_json()["data"]["id"]}, headers=headers
    )
    error = assert_error(a3, 409, "key_limit_reached")
    assert error["details"] == {"limit": 2, "active": 1}
    assert "grace" in error["message"]
    usable = db.execute(
        "select count(*) as n from public.api_keys where user_id = %s"
        " and (revoked_at is null or revoked_at > now())",
        (user,),
    ).fetchone()["n"]
    assert usable == 4


def test_concurrent_creates_never_exceed_the_limit(app, db):
    app.extensions["rate_limits"].reset()
    user = make_user(db)
    headers = bearer_for(app, user)
    attempts = 16
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/v1/keys/create", json={"name": f"t{i}"}, headers=headers)
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] * 10 + [409] * 6
    count = db.execute(
        "select count(*) as n from public.api_keys where user_id = %s", (user,)
    ).fetchone()["n"]
    assert count == 10


def test_concurrent_rotations_of_one_key_issue_one_new_key(app, db):
    user = make_user(db)
    headers = bearer_for(app, user)
    key_id = (
        app.test_client()
        .post("/v1/keys/create", json={"name": "one"}, headers=headers)
        .get_json()["data"]["id"]
    )
    attempts = 6
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []

    def attempt() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/v1/keys/rotate", json={"key_id": key_id}, headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * (attempts - 1)
    count = db.execute(
        "select count(*) as n from public.api_keys where user_id = %s", (user,)
    ).fetchone()["n"]
    assert count == 2


# -- isolation between users -----------------------------------------------------------------------


def test_user_a_cannot_see_revoke_or_rotate_user_bs_keys(app, client, db):
    a = make_user(db, "a@example.com")
    b = make_user(db, "b@example.com", credits=4)
    b_key = create(client, bearer_for(app, b), name="b-key").get_json()["data"]
    a_headers = bearer_for(app, a)

    assert client.get("/v1/keys/list", headers=a_headers).get_json()["data"] == []
    for path in ("/v1/keys/revoke", "/v1/keys/rotate"):
        response = client.post(path, json={"key_id": b_key["id"]}, headers=a_headers)
        assert_error(response, 404, "not_found")
    row = db.execute(
        "select revoked_at from public.api_keys where id = %s", (b_key["id"],)
    ).fetchone()
    assert row["revoked_at"] is None
    assert (
        db.execute("select count(*) as n from public.api_keys where user_id = %s", (a,)).fetchone()[
            "n"
        ]
        == 0
    )
    assert balance_with(client, b_key["key"]).get_json()["data"]["balance"] == 4


def _key_of(db, user_id: str) -> uuid.UUID:
    return db.execute("select id from public.api_keys where user_id = %s", (user_id,)).fetchone()[
        "id"
    ]


def test_sql_as_authenticated_user_a_cannot_touch_bs_keys(db):
    """RLS, exercised as PostgREST would: A can neither revoke nor replace nor forge B's keys."""
    a = make_user(db, "a@example.com")
    b = make_user(db, "b@example.com")
    make_key(db, b, name="b-key")
    b_key = _key_of(db, b)
    forbidden = [
        # revoke B's key, claiming to be A or B
        "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
        " values (%(key)s, %(a)s, 'revoke', now())",
        "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
        " values (%(key)s, %(b)s, 'rotate', now())",
        # a key for B
        "insert into public.api_keys (user_id, name, prefix)"
        " values (%(b)s, 'forged', 'cs_live_forg')",
        # a hash for any key
        "insert into private.api_key_hashes (key_id, key_hash) values (%(key)s, repeat('c', 64))",
        # direct writes
        "update public.api_keys set revoked_at = now() where id = %(key)s",
        "update public.api_keys set revoked_at = null",
        "delete from public.api_keys where id = %(key)s",
    ]
    for statement in forbidden:
        with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(statement, {"key": b_key, "a": a, "b": b})
    with as_user(db, a):
        assert db.execute("select id from public.api_keys where id = %s", (b_key,)).fetchall() == []
    make_key(db, a)
    db.execute(
        "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
        " values (%s, %s, 'revoke', now())",
        (b_key, b),
    )
    with as_user(db, a):
        assert db.execute("select * from public.api_key_revocations").fetchall() == []

    row = db.execute("select revoked_at from public.api_keys where id = %s", (b_key,)).fetchone()
    assert row["revoked_at"] is not None  # only the (superuser) revocation above took effect
    assert (
        db.execute(
            "select count(*) as n from public.api_key_revocations where key_id = %s", (b_key,)
        ).fetchone()["n"]
        == 1
    )


def test_sql_owner_revokes_through_a_revocation_row_and_can_never_undo_it(db):
    a = make_user(db, "a@example.com")
    with as_user(db, a):
        key = db.execute(
            "insert into public.api_keys (user_id, name, prefix)"
            " values (%s, 'sql', 'cs_live_sqlA') returning id, revoked_at",
            (a,),
        ).fetchone()
        assert key["revoked_at"] is None
        # a revocation the owner inserts takes effect now, whatever effective_at it asks for
        db.execute(
            "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
            " values (%s, %s, 'rotate', now() + interval '1 hour')",
            (key["id"], a),
        )
        db.execute(
            "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
            " values (%s, %s, 'revoke', 'infinity')",
            (key["id"], a),
        )
        final = db.execute(
            "select revoked_at = now() as now_ from public.api_keys where id = %s", (key["id"],)
        ).fetchone()
        assert final["now_"] is True
        effective = db.execute(
            "select bool_and(effective_at = now()) as now_ from public.api_key_revocations"
            " where key_id = %s",
            (key["id"],),
        ).fetchone()
        assert effective["now_"] is True
        # a rotation of a revoked key is refused by the trigger
        with pytest.raises(psycopg.Error) as excinfo:
            db.execute(
                "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
                " values (%s, %s, 'rotate', now())",
                (key["id"], a),
            )
        assert excinfo.value.sqlstate == "CS011"
    for statement in (
        "insert into public.api_keys (user_id, name, prefix, revoked_at)"
        " values (%(a)s, 'x', 'cs_live_xxxx', null)",
        "insert into public.api_keys (user_id, name, prefix, last_used_at)"
        " values (%(a)s, 'x', 'cs_live_xxxx', now())",
        "select key_hash from private.api_key_hashes",
    ):
        with as_user(db, a), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(statement, {"a": a})


@pytest.mark.parametrize(
    "statement",
    [
        "insert into public.api_keys (user_id, name, prefix)"
        " values (gen_random_uuid(), 'x', 'cs_live_xxxx')",
        "insert into public.api_key_revocations (key_id, user_id, reason, effective_at)"
        " values (gen_random_uuid(), gen_random_uuid(), 'revoke', now())",
        "select * from public.api_key_revocations",
    ],
)
def test_anon_cannot_create_or_revoke_keys(db, statement):
    with as_user(db, None, role="anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(statement)


def test_no_security_definer_function_is_executable_by_api_roles(db):
    """Supabase linter 0028/0029: the key triggers are not callable through the Data API."""
    rows = db.execute(
        "select n.nspname || '.' || p.proname as fn, r.rolname"
        " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " cross join (values ('anon'), ('authenticated')) as r (rolname)"
        " where p.prosecdef and n.nspname in ('public', 'private')"
        "   and has_function_privilege(r.rolname, p.oid, 'execute')"
    ).fetchall()
    assert [r for r in rows if "api_key" in r["fn"]] == []
    for fn in ("private.enforce_api_key_limit()", "private.apply_api_key_revocation()"):
        assert (
            db.execute(
                "select has_function_privilege('authenticated', %s::regprocedure, 'execute') as x",
                (fn,),
            ).fetchone()["x"]
            is False
        )


def test_sql_limit_holds_for_direct_inserts_without_the_api_setting(db):
    """Without app.max_active_api_keys (e.g. the Data API) the default of 10 applies; admins
    (superuser, here) are not limited."""
    a = make_user(db)
    with as_user(db, a):
        for i in range(10):
            db.execute(
                "insert into public.api_keys (user_id, name, prefix)"
                " values (%s, %s, 'cs_live_sqlA')",
                (a, f"k{i}"),
            )
        with pytest.raises(psycopg.Error) as excinfo:
            db.execute(
                "insert into public.api_keys (user_id, name, prefix)"
                " values (%s, 'k10', 'cs_live_sqlA')",
                (a,),
            )
    assert excinfo.value.sqlstate == "CS010"
    assert json.loads(excinfo.value.diag.message_detail) == {"limit": 10, "active": 10}
    for i in range(12):
        make_key(db, a, name=f"admin-{i}")
    assert (
        db.execute("select count(*) as n from public.api_keys where user_id = %s", (a,)).fetchone()[
            "n"
        ]
        == 12
    )


# -- authentication and validation -----------------------------------------------------------------


def _bad_tokens(app, user_id: str) -> dict[str, dict[str, str]]:
    now = int(time.time())
    claims = {"sub": user_id, "aud": "authenticated", "role": "authenticated", "exp": now + 600}
    return {
        "missing": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwdw=="},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "expired": bearer_for(app, user_id, ttl=-60),
        "wrong secret": {"Authorization": "Bearer " + jwt.encode(claims, "w" * 40, "HS256")},
        "api key instead": {"Authorization": "Bearer cs_live_" + "A" * 36},
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/keys/create", {"name": "x"}),
        ("get", "/v1/keys/list", None),
        ("post", "/v1/keys/revoke", {"key_id": str(uuid.UUID(int=1))}),
        ("post", "/v1/keys/rotate", {"key_id": str(uuid.UUID(int=1))}),
    ],
)
def test_missing_expired_or_invalid_bearer_is_401_invalid_token(
    app, client, db, method, path, body
):
    user = make_user(db)
    for label, headers in _bad_tokens(app, user).items():
        response = getattr(client, method)(path, json=body, headers=headers)
        assert_error(response, 401, "invalid_token"), label
    assert db.execute("select count(*) as n from public.api_keys").fetchone()["n"] == 0


def test_token_of_a_deleted_user_is_401(app, client, db):
    headers = bearer_for(app, str(uuid.uuid4()))
    assert_error(create(client, headers), 401, "invalid_token")
    assert client.get("/v1/keys/list", headers=headers).get_json()["data"] == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/keys/create", {"name": ""}, "name"),
        ("/v1/keys/create", {"name": "x" * 101}, "name"),
        ("/v1/keys/create", {}, "name"),
        ("/v1/keys/create", {"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ("/v1/keys/create", {"name": "x", "expires_in_days": 3651}, "expires_in_days"),
        ("/v1/keys/create", {"name": "x", "scopes": ["Not A Scope"]}, "scopes.0"),
        ("/v1/keys/create", {"name": "x", "scopes": "creators:read"}, "scopes"),
        ("/v1/keys/revoke", {"key_id": "not-a-uuid"}, "key_id"),
        ("/v1/keys/revoke", {}, "key_id"),
        (
            "/v1/keys/rotate",
            {"key_id": str(uuid.UUID(int=1)), "expires_in_days": -1},
            "expires_in_days",
        ),
    ],
)
def test_invalid_bodies_are_400_validation_error_naming_the_field(
    app, client, db, path, body, field
):
    user = make_user(db)
    response = client.post(path, json=body, headers=bearer_for(app, user))
    error = assert_error(response, 400, "validation_error")
    assert field in [f["field"] for f in error["details"]["fields"]]
    assert db.execute("select count(*) as n from public.api_keys").fetchone()["n"] == 0


def test_invalid_list_cursor_is_400(app, client, db):
    user = make_user(db)
    response = client.get("/v1/keys/list?cursor=nope", headers=bearer_for(app, user))
    error = assert_error(response, 400, "validation_error")
    assert [f["field"] for f in error["details"]["fields"]] == ["cursor"]


def test_openapi_documents_the_key_endpoints_with_bearer_auth_and_error_codes(client):
    doc = client.get("/v1/openapi.json").get_json()
    create_op = doc["paths"]["/v1/keys/create"]["post"]
    assert create_op["security"] == [{"BearerAuth": []}]
    assert "`key_limit_reached`" in create_op["responses"]["409"]["description"]
    assert "`invalid_token`" in create_op["responses"]["401"]["description"]
    rotate_op = doc["paths"]["/v1/keys/rotate"]["post"]
    assert "`key_not_active`" in rotate_op["responses"]["409"]["description"]
    assert (
        "`not_found`" in doc["paths"]["/v1/keys/revoke"]["post"]["responses"]["404"]["description"]
    )
    assert "get" in doc["paths"]["/v1/keys/list"]
