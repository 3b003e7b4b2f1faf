"""The Supabase Auth proxy: /v1/auth/signup, login, refresh and logout.

Supabase Auth is replaced by ``FakeSupabaseAuth``, a local FAKE of its HTTP API (GoTrue) on
127.0.0.1: the real paths (``POST /auth/v1/signup``, ``POST /auth/v1/token?grant_type=password``
and ``?grant_type=refresh_token``, ``POST /auth/v1/logout?scope=...``), the real JSON bodies and
both real error shapes: ``{"code": "<error_code>", "message": ...}`` when the request says
``X-Supabase-Api-Version: 2024-01-01`` (as supabase_auth always does) and the older
``{"code": 400, "error_code": ..., "msg": ...}``. Like GoTrue it writes new users to
``auth.users`` of the test database, so the tokens it issues work on our dashboard endpoints.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import psycopg
import pytest

from app.logs import JsonFormatter
from tests.conftest import app_for_tests, assert_error, bearer, bearer_for, fresh_client

SECRET = "fake-project-jwt-secret-" + "j" * 32
ANON_KEY = "fake-anon-key-" + "a" * 20
# shaped like a Supabase key (a JWT); supabase-py checks the shape
SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.fake-service-role-signature"
)
PASSWORD = "correct-horse-7"


class FakeSupabaseAuth:
    """FAKE of Supabase Auth (GoTrue) for tests; not Supabase. See the module docstring.

    Knobs: ``autoconfirm`` (sign-up returns a session, else a user awaiting confirmation),
    ``legacy_errors`` (answer in the pre-2024 error shape), ``rate_limited`` (every call 429
    ``over_request_rate_limit``), ``broken`` (every call 500). ``requests`` records each call.
    A password without a digit is "weak" (422 ``weak_password``, reasons ``["characters"]``);
    e-mail addresses at ``invalid.test`` are refused (400 ``email_address_invalid``).
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.reset()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._reply(self, 404, {"code": 404, "error_code": "not_found", "msg": "Not found"})

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def reset(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.sessions: set[str] = set()
        self.last_status = 0
        self.requests: list[dict[str, Any]] = []
        self.autoconfirm = True
        self.legacy_errors = False
        self.rate_limited = False
        self.broken = False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- wire format ---------------------------------------------------------------------------

    def _reply(self, handler, status: int, body: dict | None, headers: dict | None = None):
        data = b"" if body is None else json.dumps(body).encode()
        self.last_status = status
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler, status: int, code: str, message: str, **extra):
        """GoTrue's HTTPError: the 2024-01-01 shape when the client asks for it, else legacy."""
        headers = {"x-sb-error-code": code}
        version = handler.headers.get("X-Supabase-Api-Version", "")
        if version >= "2024-01-01" and not self.legacy_errors:
            headers["X-Supabase-Api-Version"] = "2024-01-01"
            body = {"code": code, "message": message, **extra}
        else:
            body = {"code": status, "error_code": code, "msg": message, **extra}
        self._reply(handler, status, body, headers)

    def _user_json(self, user: dict) -> dict:
        confirmed = user["email_confirmed_at"]
        return {
            "id": user["id"],
            "aud": "authenticated",
            "role": "authenticated",
            "email": user["email"],
            "email_confirmed_at": confirmed,
            "phone": "",
            "confirmed_at": confirmed,
            "last_sign_in_at": confirmed,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "identities": [],
            "created_at": user["created_at"],
            "updated_at": user["created_at"],
            "is_anonymous": False,
        }

    def _session(self, user: dict, session_id: str | None = None) -> dict:
        now = int(time.time())
        session_id = session_id or str(uuid.uuid4())
        access_token = jwt.encode(
            {
                "iss": f"{self.url}/auth/v1",
                "sub": user["id"],
                "aud": "authenticated",
                "exp": now + 3600,
                "iat": now,
                "email": user["email"],
                "role": "authenticated",
                "aal": "aal1",
                "session_id": session_id,
                "is_anonymous": False,
            },
            SECRET,
            algorithm="HS256",
        )
        refresh_token = secrets.token_urlsafe(9)
        self.sessions.add(session_id)
        self.refresh_tokens[refresh_token] = {
            "user_id": user["id"],
            "session_id": session_id,
            "revoked": False,
        }
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": 3600,
            "expires_at": now + 3600,
            "refresh_token": refresh_token,
            "user": self._user_json(user),
        }

    # -- endpoints -----------------------------------------------------------------------------

    def _handle(self, handler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        self.requests.append(
            {"path": parts.path, "query": query, "headers": dict(handler.headers), "body": body}
        )
        if self.broken:
            return self._error(handler, 500, "unexpected_failure", "Unexpected failure")
        if self.rate_limited:
            return self._error(
                handler, 429, "over_request_rate_limit", "Request rate limit reached"
            )
        route = (parts.path, query.get("grant_type"))
        if route == ("/auth/v1/signup", None):
            return self._signup(handler, body)
        if route == ("/auth/v1/token", "password"):
            return self._password_grant(handler, body)
        if route == ("/auth/v1/token", "refresh_token"):
            return self._refresh_grant(handler, body)
        if parts.path == "/auth/v1/logout":
            return self._logout(handler, query.get("scope", "global"))
        if parts.path == "/auth/v1/admin/users":
            return self._admin_create_user(handler, body)
        return self._error(handler, 404, "not_found", "Not found")

    def _admin_create_user(self, handler, body: dict) -> None:
        """``POST /auth/v1/admin/users``: needs the service-role key as Bearer; answers the user
        object itself, or 422 ``email_exists``."""
        if handler.headers.get("Authorization") != f"Bearer {SERVICE_ROLE_KEY}":
            return self._error(handler, 403, "not_admin", "User not allowed")
        email = body.get("email", "")
        if email in self.users:
            return self._error(
                handler,
                422,
                "email_exists",
                "A user with this email address has already been registered",
            )
        now = datetime.now(UTC).isoformat()
        user = {
            "id": str(uuid.uuid4()),
            "email": email,
            "password": body.get("password"),
            "created_at": now,
            "email_confirmed_at": now if body.get("email_confirm") else None,
        }
        self.users[email] = user
        with psycopg.connect(self.database_url, autocommit=True) as conn:  # as GoTrue does
            conn.execute(
                "insert into auth.users (id, email, email_confirmed_at) values (%s, %s, %s)",
                (user["id"], email, user["email_confirmed_at"]),
            )
        return self._reply(handler, 200, self._user_json(user))

    def _signup(self, handler, body: dict) -> None:
        email, password = body.get("email", ""), body.get("password", "")
        if email.endswith("@invalid.test"):
            return self._error(
                handler, 400, "email_address_invalid", f'Email address "{email}" is invalid'
            )
        if not any(ch.isdigit() for ch in password):
            return self._error(
                handler,
                422,
                "weak_password",
                "Password should contain at least one character of each: 0123456789",
                weak_password={"reasons": ["characters"]},
            )
        if email in self.users:
            return self._error(handler, 422, "user_already_exists", "User already registered")
        now = datetime.now(UTC).isoformat()
        user = {
            "id": str(uuid.uuid4()),
            "email": email,
            "password": password,
            "created_at": now,
            "email_confirmed_at": now if self.autoconfirm else None,
        }
        self.users[email] = user
        with psycopg.connect(self.database_url, autocommit=True) as conn:  # as GoTrue does
            conn.execute(
                "insert into auth.users (id, email, email_confirmed_at) values (%s, %s, %s)",
                (user["id"], email, user["email_confirmed_at"]),
            )
        if self.autoconfirm:
            return self._reply(handler, 200, self._session(user))
        return self._reply(handler, 200, self._user_json(user))

    def _password_grant(self, handler, body: dict) -> None:
        user = self.users.get(body.get("email", ""))
        if user is None or user["password"] != body.get("password"):
            return self._error(handler, 400, "invalid_credentials", "Invalid login credentials")
        if user["email_confirmed_at"] is None:
            return self._error(handler, 400, "email_not_confirmed", "Email not confirmed")
        return self._reply(handler, 200, self._session(user))

    def _refresh_grant(self, handler, body: dict) -> None:
        token = self.refresh_tokens.get(body.get("refresh_token", ""))
        if token is None:
            return self._error(
                handler,
                400,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            )
        if token["revoked"]:
            return self._error(
                handler,
                400,
                "refresh_token_already_used",
                "Invalid Refresh Token: Already Used",
            )
        token["revoked"] = True
        user = next(u for u in self.users.values() if u["id"] == token["user_id"])
        return self._reply(handler, 200, self._session(user, token["session_id"]))

    def _logout(self, handler, scope: str) -> None:
        _scheme, _, access_token = handler.headers.get("Authorization", "").partition(" ")
        try:
            claims = jwt.decode(
                access_token, SECRET, algorithms=["HS256"], audience="authenticated"
            )
        except jwt.PyJWTError:
            return self._error(handler, 403, "bad_jwt", "invalid JWT: unable to parse or verify")
        if claims.get("session_id") not in self.sessions:
            return self._error(
                handler,
                403,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            )
        ended = set()
        for token in self.refresh_tokens.values():
            same_session = token["session_id"] == claims["session_id"]
            if token["user_id"] == claims["sub"] and (
                scope == "global"
                or (scope == "local" and same_session)
                or (scope == "others" and not same_session)
            ):
                token["revoked"] = True
                ended.add(token["session_id"])
        self.sessions -= ended
        return self._reply(handler, 204, None)


@pytest.fixture(scope="module")
def fake_auth(database_url):
    fake = FakeSupabaseAuth(database_url)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def auth_app(database_url, fake_auth):
    """An app pointed at the fake Supabase Auth, with the fake's JWT secret."""
    with app_for_tests(
        database_url,
        SUPABASE_URL=fake_auth.url,
        SUPABASE_ANON_KEY=ANON_KEY,
        SUPABASE_JWT_SECRET=SECRET,
        AUTH_HTTP_TIMEOUT=5.0,
    ) as flask_app:
        yield flask_app


@pytest.fixture
def auth_client(auth_app, fake_auth):
    fake_auth.reset()
    return fresh_client(auth_app)


def signup(client, email="ann@example.com", password=PASSWORD):
    return client.post("/v1/auth/signup", json={"email": email, "password": password})


def login(client, email="ann@example.com", password=PASSWORD):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


# -- success paths ---------------------------------------------------------------------------------


def test_signup_creates_the_user_and_returns_a_session_that_works(auth_client, fake_auth, db):
    response = signup(auth_client)
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert data["user"]["email"] == "ann@example.com"
    assert data["user"]["email_confirmed_at"] is not None
    session = data["session"]
    assert session["token_type"] == "bearer" and session["expires_in"] == 3600
    assert set(session) == {
        "access_token",
        "token_type",
        "expires_in",
        "expires_at",
        "refresh_token",
    }

    call = fake_auth.requests[-1]
    assert call["path"] == "/auth/v1/signup"
    assert call["headers"]["apikey"] == ANON_KEY
    assert call["headers"]["X-Supabase-Api-Version"] == "2024-01-01"
    assert (call["body"]["email"], call["body"]["password"]) == ("ann@example.com", PASSWORD)

    profile = db.execute(
        "select id from public.profiles where email = 'ann@example.com'"
    ).fetchone()
    assert str(profile["id"]) == data["user"]["id"]
    # The access token is a dashboard credential: create a key with it.
    created = auth_client.post(
        "/v1/keys/create", json={"name": "first"}, headers=bearer(session["access_token"])
    )
    assert created.status_code == 201
    assert created.get_json()["data"]["name"] == "first"


def test_signup_awaiting_confirmation_has_no_session_and_login_is_403(auth_client, fake_auth):
    fake_auth.autoconfirm = False
    response = signup(auth_client)
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert data["session"] is None
    assert data["user"]["email_confirmed_at"] is None
    assert_error(login(auth_client), 403, "email_not_confirmed")


def test_login_returns_a_session(auth_client, fake_auth):
    signup(auth_client)
    response = login(auth_client)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["user"]["email"] == "ann@example.com"
    claims = jwt.decode(
        data["session"]["access_token"], SECRET, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["sub"] == data["user"]["id"]
    call = fake_auth.requests[-1]
    assert (call["path"], call["query"]) == ("/auth/v1/token", {"grant_type": "password"})
    assert call["body"]["email"] == "ann@example.com"


def test_refresh_rotates_the_refresh_token(auth_client, fake_auth):
    first = signup(auth_client).get_json()["data"]["session"]
    response = auth_client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.get_json()["data"]["session"]
    assert second["refresh_token"] != first["refresh_token"]
    call = fake_auth.requests[-1]
    assert call["query"] == {"grant_type": "refresh_token"}
    assert call["body"] == {"refresh_token": first["refresh_token"]}

    reused = auth_client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    error = assert_error(reused, 401, "invalid_credentials")
    assert "refresh token" in error["message"]


def test_logout_revokes_the_sessions_refresh_tokens(auth_client, fake_auth):
    session = signup(auth_client).get_json()["data"]["session"]
    other = login(auth_client).get_json()["data"]["session"]
    response = auth_client.post("/v1/auth/logout", headers=bearer(session["access_token"]))
    assert response.status_code == 200
    assert response.get_json()["data"] == {"logged_out": True, "scope": "global"}
    call = fake_auth.requests[-1]
    assert (call["path"], call["query"]) == ("/auth/v1/logout", {"scope": "global"})
    assert call["headers"]["Authorization"] == f"Bearer {session['access_token']}"
    assert call["headers"]["apikey"] == ANON_KEY
    for refresh_token in (session["refresh_token"], other["refresh_token"]):
        refused = auth_client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
        assert_error(refused, 401, "invalid_credentials")


def test_logout_local_scope_keeps_other_sessions(auth_client, fake_auth):
    session = signup(auth_client).get_json()["data"]["session"]
    other = login(auth_client).get_json()["data"]["session"]
    response = auth_client.post(
        "/v1/auth/logout?scope=local", headers=bearer(session["access_token"])
    )
    assert response.get_json()["data"] == {"logged_out": True, "scope": "local"}
    assert fake_auth.requests[-1]["query"] == {"scope": "local"}
    still = auth_client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert still.status_code == 200


def test_logout_of_an_ended_or_unknown_session_counts_as_logged_out(
    auth_client, fake_auth, auth_app
):
    """Supabase answers 403 ``session_not_found`` for a session that is gone: logged out."""
    session = signup(auth_client).get_json()["data"]["session"]
    headers = bearer(session["access_token"])
    assert auth_client.post("/v1/auth/logout", headers=headers).status_code == 200
    again = auth_client.post("/v1/auth/logout", headers=headers)
    assert again.status_code == 200
    assert again.get_json()["data"]["logged_out"] is True
    assert fake_auth.last_status == 403

    user_id = fake_auth.users["ann@example.com"]["id"]
    # a token valid for us; a session the fake never issued
    response = auth_client.post("/v1/auth/logout", headers=bearer_for(auth_app, user_id))
    assert response.status_code == 200
    assert fake_auth.last_status == 403


# -- error mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["2024-01-01 shape", "legacy shape"])
def test_wrong_password_and_unknown_user_are_401_invalid_credentials(
    auth_client, fake_auth, legacy
):
    signup(auth_client)
    fake_auth.legacy_errors = legacy
    wrong = assert_error(
        login(auth_client, password="wrong-password-1"), 401, "invalid_credentials"
    )
    unknown = assert_error(
        login(auth_client, email="nobody@example.com"), 401, "invalid_credentials"
    )
    assert wrong["message"] == unknown["message"]


@pytest.mark.parametrize("legacy", [False, True], ids=["2024-01-01 shape", "legacy shape"])
def test_signup_with_a_taken_email_is_409(auth_client, fake_auth, legacy):
    assert signup(auth_client).status_code == 201
    fake_auth.legacy_errors = legacy
    assert_error(signup(auth_client), 409, "email_taken")


def test_weak_password_is_400_with_supabases_reasons(auth_client):
    error = assert_error(signup(auth_client, password="no-digits-here"), 400, "validation_error")
    assert error["details"]["fields"] == [
        {
            "field": "password",
            "message": "Password should contain at least one character of each: 0123456789",
        }
    ]
    assert error["details"]["reasons"] == ["characters"]


def test_email_refused_by_supabase_is_400_on_email(auth_client):
    error = assert_error(signup(auth_client, email="ann@invalid.test"), 400, "validation_error")
    assert [f["field"] for f in error["details"]["fields"]] == ["email"]


def test_unknown_refresh_token_is_401(auth_client):
    response = auth_client.post("/v1/auth/refresh", json={"refresh_token": "no-such-token"})
    assert_error(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/auth/signup", {"email": "ann@example.com", "password": PASSWORD}),
        ("/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD}),
        ("/v1/auth/refresh", {"refresh_token": "abc"}),
    ],
)
def test_supabase_rate_limit_is_passed_on_as_429(auth_client, fake_auth, path, body):
    fake_auth.rate_limited = True
    response = auth_client.post(path, json=body)
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "60"
    assert fake_auth.requests[-1]["path"].startswith("/auth/v1/")


def test_supabase_failure_is_503_auth_unavailable(auth_client, fake_auth):
    fake_auth.broken = True
    assert_error(login(auth_client), 503, "auth_unavailable")
    assert_error(signup(auth_client), 503, "auth_unavailable")


def test_unreachable_supabase_is_503_auth_unavailable(database_url):
    gone = FakeSupabaseAuth(database_url)
    gone.close()  # nothing listens on its port any more
    with app_for_tests(
        database_url,
        DB_POOL_MIN_SIZE=0,
        SUPABASE_URL=gone.url,
        SUPABASE_ANON_KEY=ANON_KEY,
        SUPABASE_JWT_SECRET=SECRET,
        AUTH_HTTP_TIMEOUT=2.0,
    ) as flask_app:
        response = login(flask_app.test_client())
        assert_error(response, 503, "auth_unavailable")


def test_unconfigured_auth_is_503_auth_unavailable(app, client, db):
    """The default test app has no SUPABASE_URL/SUPABASE_ANON_KEY (the embedded default)."""
    assert app.config["SUPABASE_URL"] == ""
    for path in ("/v1/auth/signup", "/v1/auth/login"):
        error = assert_error(
            client.post(path, json={"email": "a@example.com", "password": PASSWORD}),
            503,
            "auth_unavailable",
        )
        assert "SUPABASE_URL" in error["message"]
    assert_error(
        client.post("/v1/auth/refresh", json={"refresh_token": "x"}), 503, "auth_unavailable"
    )
    user_id = str(db.execute("insert into auth.users (email) values ('l@example.com') returning id")
                  .fetchone()["id"])  # fmt: skip
    assert_error(
        client.post("/v1/auth/logout", headers=bearer_for(app, user_id)), 503, "auth_unavailable"
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/auth/signup", {"email": "not-an-email", "password": PASSWORD}, "email"),
        ("/v1/auth/signup", {"email": "ann@example.com", "password": "short"}, "password"),
        ("/v1/auth/signup", {"email": "ann@example.com"}, "password"),
        ("/v1/auth/login", {"password": PASSWORD}, "email"),
        ("/v1/auth/login", {"email": "ann@example.com", "password": "p" * 73}, "password"),
        ("/v1/auth/refresh", {"refresh_token": ""}, "refresh_token"),
        ("/v1/auth/refresh", {}, "refresh_token"),
    ],
)
def test_invalid_bodies_are_400_before_supabase_is_called(
    auth_client, fake_auth, path, body, field
):
    error = assert_error(auth_client.post(path, json=body), 400, "validation_error")
    assert field in [f["field"] for f in error["details"]["fields"]]
    assert PASSWORD not in json.dumps(error)
    assert fake_auth.requests == []


def test_logout_needs_a_valid_bearer_and_a_known_scope(auth_client, fake_auth):
    assert_error(auth_client.post("/v1/auth/logout"), 401, "invalid_token")
    assert_error(auth_client.post("/v1/auth/logout", headers=bearer("nope")), 401, "invalid_token")
    session = signup(auth_client).get_json()["data"]["session"]
    response = auth_client.post(
        "/v1/auth/logout?scope=everything", headers=bearer(session["access_token"])
    )
    assert_error(response, 400, "validation_error")
    assert [r["path"] for r in fake_auth.requests] == ["/auth/v1/signup"]


# -- logs ------------------------------------------------------------------------------------------


def test_no_password_or_token_ever_reaches_the_logs(auth_client, fake_auth, caplog):
    caplog.set_level(logging.DEBUG)
    session = signup(auth_client).get_json()["data"]["session"]
    second = login(auth_client).get_json()["data"]["session"]
    third = auth_client.post(
        "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    ).get_json()["data"]["session"]
    auth_client.post("/v1/auth/logout", headers=bearer(third["access_token"]))
    login(auth_client, password="wrong-password-9")
    signup(auth_client, password="weak-password")
    auth_client.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})

    formatter = JsonFormatter()
    output = "\n".join(formatter.format(record) for record in caplog.records)
    assert "supabase auth refused" in output  # the failures were logged...
    secrets_seen = [
        PASSWORD,
        "wrong-password-9",
        "weak-password",
        ANON_KEY,
        *(s[k] for s in (session, second, third) for k in ("access_token", "refresh_token")),
    ]
    for secret in secrets_seen:  # ...without any secret
        assert secret not in output
    assert "ann@example.com" not in output


def test_openapi_documents_the_auth_endpoints(auth_client):
    doc = auth_client.get("/v1/openapi.json").get_json()
    login_op = doc["paths"]["/v1/auth/login"]["post"]
    assert "`invalid_credentials`" in login_op["responses"]["401"]["description"]
    assert "`auth_unavailable`" in login_op["responses"]["503"]["description"]
    assert "`rate_limited`" in login_op["responses"]["429"]["description"]
    signup_op = doc["paths"]["/v1/auth/signup"]["post"]
    assert "201" in signup_op["responses"]
    assert "`email_taken`" in signup_op["responses"]["409"]["description"]
    assert doc["paths"]["/v1/auth/logout"]["post"]["security"] == [{"BearerAuth": []}]
    schemas = doc["components"]["schemas"]
    assert schemas["Credentials"]["properties"]["password"]["format"] == "password"


def test_cli_users_create_goes_through_the_auth_admin_api(database_url, fake_auth, db):
    """With Supabase configured, ``users create`` calls GoTrue's admin API (here the fake) with
    the service-role key, and the auth.users row it writes gets a profile through our trigger."""
    fake_auth.reset()
    with app_for_tests(
        database_url,
        SUPABASE_URL=fake_auth.url,
        SUPABASE_ANON_KEY=ANON_KEY,
        SUPABASE_SERVICE_ROLE_KEY=SERVICE_ROLE_KEY,
        SUPABASE_JWT_SECRET=SECRET,
    ) as flask_app:
        runner = flask_app.test_cli_runner()
        created = runner.invoke(args=["users", "create", "cli@example.com", "--password", PASSWORD])
        again = runner.invoke(args=["users", "create", "cli@example.com"])
    assert created.exit_code == 0, created.output
    assert [r["path"] for r in fake_auth.requests][:1] == ["/auth/v1/admin/users"]
    assert fake_auth.requests[0]["body"]["email_confirm"] is True
    profile = db.execute("select id from public.profiles where email = 'cli@example.com'")
    assert f"created user {profile.fetchone()['id']}" in created.output
    assert again.exit_code == 1
    assert "already been registered" in again.output
