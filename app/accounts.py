"""Accounts: the Supabase Auth proxy (signup, login, refresh, logout) and API-key management.

**Auth proxy.** Calls go through ``supabase_auth.SyncGoTrueClient`` (the auth client of the
Supabase Python client) at ``{SUPABASE_URL}/auth/v1`` with the project's anon (publishable)
key, exactly as ``supabase.create_client(...).auth`` would, minus the parts a server must not
have: no auto-refresh timer, no stored session. The client keeps per-session state, so every call
gets a fresh one; they share one ``httpx.Client`` per app (connection pooling, timeout
``AUTH_HTTP_TIMEOUT`` seconds). Without ``SUPABASE_URL`` and ``SUPABASE_ANON_KEY`` every call
raises 503 ``auth_unavailable`` (the embedded default creates users with the admin CLI).

Supabase's errors (``AuthApiError``: ``status`` and ``code``, from either of its wire shapes)
map to our envelope: 400 ``validation_error``, 401 ``invalid_credentials``, 403
``email_not_confirmed`` / ``account_suspended`` / ``forbidden``, 409 ``email_taken``, 429
``rate_limited`` (Supabase's own limit, passed on), 503 ``auth_unavailable`` (unreachable, 5xx or
an unreadable answer). Only the operation, status and Supabase code are logged: never e-mail
addresses, passwords or tokens.

**API keys.** Created, listed, revoked and rotated as the user (``app.db.as_user``), so RLS
decides: inserts into ``public.api_keys`` (a trigger enforces ``MAX_ACTIVE_KEYS_PER_USER`` under
a per-user lock) and into ``public.api_key_revocations`` (only for the caller's own keys; a
trigger moves the key's ``revoked_at`` forward, to now or, for a rotation, to now +
``KEY_ROTATION_GRACE_SECONDS``). See ``supabase/migrations/20261121200000_accounts.sql``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import httpx
from flask import current_app
from pydantic import ValidationError
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthError, AuthWeakPasswordError
from supabase_auth.types import Session, User

from app import db
from app.errors import (
    AccountSuspended,
    ApiError,
    AuthUnavailable,
    EmailNotConfirmed,
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    KeyNotActive,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from app.queries import keys as key_queries
from app.security import BearerUser, generate_api_key

log = logging.getLogger(__name__)

Operation = Literal["signup", "login", "refresh", "logout"]
LogoutScope = Literal["global", "local", "others"]

# -- Supabase Auth ------------------------------------------------------------------------------

_HTTP_CLIENT = "supabase_auth_http"
_DEFAULT_RETRY_AFTER = "60"

# Supabase Auth error codes (supabase_auth.errors.ErrorCode) -> our errors.
_BY_CODE: dict[str, type[ApiError]] = {
    "invalid_credentials": InvalidCredentials,
    "refresh_token_not_found": InvalidCredentials,
    "refresh_token_already_used": InvalidCredentials,
    "session_not_found": InvalidCredentials,
    "user_already_exists": EmailTaken,
    "email_exists": EmailTaken,
    "email_not_confirmed": EmailNotConfirmed,
    "user_banned": AccountSuspended,
    "signup_disabled": Forbidden,
    "email_provider_disabled": Forbidden,
    "email_address_not_authorized": Forbidden,
    "over_request_rate_limit": RateLimited,
    "over_email_send_rate_limit": RateLimited,
    "over_sms_send_rate_limit": RateLimited,
    "weak_password": ValidationFailed,
    "validation_failed": ValidationFailed,
    "email_address_invalid": ValidationFailed,
    "bad_json": ValidationFailed,
}
_FIELD_BY_CODE = {
    "weak_password": "password",
    "email_address_invalid": "email",
    "validation_failed": "body",
    "bad_json": "body",
}


def is_configured() -> bool:
    """True when ``SUPABASE_URL`` and ``SUPABASE_ANON_KEY`` are both set."""
    config = current_app.config
    return bool(config["SUPABASE_URL"] and config["SUPABASE_ANON_KEY"])


def _http_client() -> httpx.Client:
    client = current_app.extensions.get(_HTTP_CLIENT)
    if client is None:
        timeout = current_app.config["AUTH_HTTP_TIMEOUT"]
        client = current_app.extensions.setdefault(
            _HTTP_CLIENT, httpx.Client(timeout=timeout, follow_redirects=False)
        )
    return client


def _auth_client() -> SyncGoTrueClient:
    if not is_configured():
        raise AuthUnavailable(
            "Sign-up and login are not configured on this server (SUPABASE_URL and "
            "SUPABASE_ANON_KEY). Ask the operator for an access token."
        )
    config = current_app.config
    anon_key = config["SUPABASE_ANON_KEY"]
    return SyncGoTrueClient(
        url=config["SUPABASE_URL"].rstrip("/") + "/auth/v1",
        headers={"apikey": anon_key, "Authorization": f"Bearer {anon_key}"},
        auto_refresh_token=False,
        persist_session=False,
        http_client=_http_client(),
    )


def _retry_after(err: AuthError) -> str:
    cause = err.__cause__
    response = getattr(cause, "response", None)
    value = response.headers.get("Retry-After", "") if response is not None else ""
    return value if value.isdigit() else _DEFAULT_RETRY_AFTER


def _map_error(operation: Operation, err: AuthError) -> ApiError:
    """Our error for a Supabase Auth failure during ``operation``."""
    status = getattr(err, "status", 0) or 0
    code = err.code or ""
    log.warning(
        "supabase auth refused",
        extra={"operation": operation, "upstream_status": status, "upstream_code": code or None},
    )
    answered = isinstance(err, AuthApiError | AuthWeakPasswordError)  # else network/unknown
    if not answered or status >= 500:
        return AuthUnavailable("Supabase Auth did not answer; try again shortly.")
    cls = _BY_CODE.get(code)
    if status == 429 or cls is RateLimited:
        return RateLimited(
            "Too many sign-in attempts; wait before trying again.",
            headers={"Retry-After": _retry_after(err)},
        )
    if cls is None and operation in ("login", "refresh") and status in (400, 401):
        cls = InvalidCredentials  # pre-2024 GoTrue: {"error": "invalid_grant", ...} without code
    if cls is None or cls is ValidationFailed:
        field = _FIELD_BY_CODE.get(code, "body")
        details: dict[str, Any] = {"fields": [{"field": field, "message": err.message}]}
        if isinstance(err, AuthWeakPasswordError):
            details["reasons"] = list(err.reasons)
        return ValidationFailed(err.message, details=details)
    if cls is InvalidCredentials and operation == "refresh":
        return InvalidCredentials("The refresh token is invalid, expired or already used.")
    return cls()


def _user(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "email_confirmed_at": user.email_confirmed_at,
        "created_at": user.created_at,
    }


def _session(session: Session | None) -> dict[str, Any] | None:
    if session is None:
        return None
    return {
        "access_token": session.access_token,
        "token_type": session.token_type,
        "expires_in": session.expires_in,
        "expires_at": session.expires_at,
        "refresh_token": session.refresh_token,
    }


def _call(operation: Operation, fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except AuthError as err:
        raise _map_error(operation, err) from None
    except (ValidationError, ValueError) as exc:
        log.error("supabase auth answer unreadable", extra={"operation": operation})
        raise AuthUnavailable("Supabase Auth gave an unexpected answer.") from exc


def sign_up(email: str, password: str) -> dict[str, Any]:
    """Create a user with e-mail and password (``POST /auth/v1/signup``).

    Returns ``{"user", "session"}``; ``session`` is None while the project requires e-mail
    confirmation. Errors: 400 ``validation_error`` (e.g. weak password, ``details.reasons``),
    403 ``forbidden`` (sign-ups disabled), 409 ``email_taken``, 429 ``rate_limited``,
    503 ``auth_unavailable``.
    """
    client = _auth_client()
    result = _call("signup", client.sign_up, {"email": email, "password": password})
    return {"user": _user(result.user), "session": _session(result.session)}


def log_in(email: str, password: str) -> dict[str, Any]:
    """Password login (``POST /auth/v1/token?grant_type=password``): ``{"user", "session"}``.

    Errors: 401 ``invalid_credentials``, 403 ``email_not_confirmed`` or ``account_suspended``,
    429 ``rate_limited``, 503 ``auth_unavailable``.
    """
    client = _auth_client()
    result = _call("login", client.sign_in_with_password, {"email": email, "password": password})
    return {"user": _user(result.user), "session": _session(result.session)}


def refresh(refresh_token: str) -> dict[str, Any]:
    """A new session for a refresh token (``POST /auth/v1/token?grant_type=refresh_token``).

    Refresh tokens are single-use. Errors: 401 ``invalid_credentials``, 429 ``rate_limited``,
    503 ``auth_unavailable``.
    """
    client = _auth_client()
    result = _call("refresh", client.refresh_session, refresh_token)
    return {"user": _user(result.user), "session": _session(result.session)}


def log_out(access_token: str, scope: LogoutScope = "global") -> None:
    """Revoke refresh tokens (``POST /auth/v1/logout?scope=...``) for the token's session:
    ``global`` (all sessions), ``local`` (this one) or ``others``.

    Access tokens stay valid until they expire (Supabase cannot revoke a JWT). A session that
    is already gone (401/403/404) counts as logged out. Errors: 429 ``rate_limited``,
    503 ``auth_unavailable``.
    """
    client = _auth_client()
    try:
        client.admin.sign_out(access_token, scope)
    except AuthApiError as err:
        if err.status in (401, 403, 404):
            return
        raise _map_error("logout", err) from None
    except AuthError as err:
        raise _map_error("logout", err) from None


# -- API keys -----------------------------------------------------------------------------------


def _expiry(expires_in_days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None


def create_key(
    user: BearerUser, name: str, scopes: list[str], expires_in_days: int | None = None
) -> dict[str, Any]:
    """A new API key for ``user``; the result's ``key`` is the plaintext, shown only now.

    ``expires_in_days`` (days, None: never). Errors: 409 ``key_limit_reached`` (details
    ``limit``, ``active``), 401 ``invalid_token`` (the user no longer exists).
    """
    new_key = generate_api_key()
    with db.as_user(user.claims) as conn:
        key_queries.set_key_limit(conn, current_app.config["MAX_ACTIVE_KEYS_PER_USER"])
        row = key_queries.create_own(
            conn, name, new_key.key_hash, new_key.prefix, scopes, _expiry(expires_in_days)
        )
    log.info("api key created", extra={"api_key_id": str(row["id"]), "prefix": row["prefix"]})
    return {"key": new_key.plaintext, **row}


def list_keys(
    user: BearerUser, limit: int, after: UUID | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """``user``'s keys, newest first: ``limit`` rows after key ``after`` and the next cursor
    (the last key's id, or None at the end). Never the hashes."""
    with db.as_user(user.claims) as conn:
        rows = key_queries.list_own(conn, limit + 1, after)
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, str(rows[-1]["id"])
    return rows, None


def revoke_key(user: BearerUser, key_id: UUID) -> dict[str, Any]:
    """Revoke ``user``'s key now (idempotent; ends a rotation's grace period early). The key is
    refused from its next request on.

    Errors: 404 ``not_found`` (no such key, or not ``user``'s).
    """
    with db.as_user(user.claims) as conn:
        key = key_queries.get_own(conn, key_id)
        if key is None:
            raise NotFound("No such API key.")
        if key["status"] != "revoked":
            key_queries.revoke_own(conn, key_id)
            key = key_queries.get_own(conn, key_id)
    log.info("api key revoked", extra={"api_key_id": str(key["id"]), "prefix": key["prefix"]})
    return key


def rotate_key(
    user: BearerUser, key_id: UUID, expires_in_days: int | None = None
) -> dict[str, Any]:
    """Replace ``user``'s active key with a new one (same name and scopes); the old key keeps
    working for ``KEY_ROTATION_GRACE_SECONDS``. The result's ``key`` is the new plaintext, with
    ``replaced_key_id`` and ``replaced_key_revoked_at``.

    ``expires_in_days`` sets the new key's expiry (default: the old key's). Errors: 404
    ``not_found``, 409 ``key_not_active`` (revoked, expired or already rotated), 409
    ``key_limit_reached``.
    """
    config = current_app.config
    new_key = generate_api_key()
    with db.as_user(user.claims) as conn:
        old = key_queries.get_own(conn, key_id)
        if old is None:
            raise NotFound("No such API key.")
        if old["status"] != "active":
            raise KeyNotActive()
        # Revoke-later first, so the old key no longer counts as active for the limit.
        key_queries.schedule_rotation(conn, key_id, config["KEY_ROTATION_GRACE_SECONDS"])
        key_queries.set_key_limit(conn, config["MAX_ACTIVE_KEYS_PER_USER"])
        expires_at = _expiry(expires_in_days) or old["expires_at"]
        row = key_queries.create_own(
            conn, old["name"], new_key.key_hash, new_key.prefix, old["scopes"], expires_at
        )
        old = key_queries.get_own(conn, key_id)
    log.info(
        "api key rotated",
        extra={"api_key_id": str(row["id"]), "replaced_key_id": str(old["id"])},
    )
    return {
        "key": new_key.plaintext,
        **row,
        "replaced_key_id": old["id"],
        "replaced_key_revoked_at": old["revoked_at"],
    }
