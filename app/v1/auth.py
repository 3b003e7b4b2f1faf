"""Auth: sign-up, login, token refresh and logout, proxied to the project's Supabase Auth.

The access token these return is what the dashboard endpoints (``/v1/keys/...``) take as
``Authorization: Bearer``. They need ``SUPABASE_URL`` and ``SUPABASE_ANON_KEY``; without them
every call is 503 ``auth_unavailable`` (locally: ``flask --app wsgi tokens mint EMAIL``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import g, request
from pydantic import BaseModel, Field, SecretStr

from app import accounts
from app.doors import auth_endpoint_limit
from app.errors import (
    AccountSuspended,
    AuthUnavailable,
    EmailNotConfirmed,
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
)
from app.openapi import BEARER_SECURITY, QueryModel, error_responses, resource_blueprint
from app.security import bearer_required

bp = resource_blueprint(
    "auth",
    __name__,
    "/auth",
    "Sign up, log in, refresh and log out (Supabase Auth). The access token authenticates the "
    "dashboard endpoints as `Authorization: Bearer <token>`.",
)

_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Meta(BaseModel):
    request_id: str = Field(description="This request's id.")


class Credentials(BaseModel):
    email: str = Field(
        max_length=254,
        pattern=_EMAIL_PATTERN,
        description="E-mail address.",
        examples=["ann@example.com"],
    )
    password: SecretStr = Field(
        min_length=6,
        max_length=72,
        description="Password, 6-72 characters; the project may require more "
        "(400 `validation_error`).",
    )


class RefreshBody(BaseModel):
    refresh_token: str = Field(
        min_length=1, max_length=1024, description="The session's refresh token (single use)."
    )


class LogoutQuery(QueryModel):
    scope: Literal["global", "local", "others"] = Field(
        "global",
        description="`global`: every session of the user; `local`: this one; "
        "`others`: all but this one.",
    )


class AuthUser(BaseModel):
    id: str = Field(description="User id (uuid).")
    email: str | None
    email_confirmed_at: datetime | None = Field(description="Null until the e-mail is confirmed.")
    created_at: datetime


class AuthSession(BaseModel):
    access_token: str = Field(description="JWT for `Authorization: Bearer` on dashboard endpoints.")
    token_type: str = Field(description='Always "bearer".')
    expires_in: int = Field(description="Seconds the access token is valid.")
    expires_at: int | None = Field(description="Expiry of the access token, epoch seconds.")
    refresh_token: str = Field(description="Single-use token for POST /v1/auth/refresh.")


class AuthResult(BaseModel):
    user: AuthUser
    session: AuthSession | None = Field(
        description="Null after sign-up while the project requires e-mail confirmation."
    )


class AuthResponse(BaseModel):
    data: AuthResult
    meta: Meta


class LogoutResult(BaseModel):
    logged_out: bool = Field(description="Always true: the session's refresh tokens are revoked.")
    scope: str


class LogoutResponse(BaseModel):
    data: LogoutResult
    meta: Meta


def _respond(result: dict, status: int = 200):
    return {"data": result, "meta": {"request_id": g.request_id}}, status


@bp.post(
    "/signup",
    responses={
        201: AuthResponse,
        **error_responses(Forbidden, EmailTaken, RateLimited, AuthUnavailable),
    },
)
@auth_endpoint_limit
def signup(body: Credentials):
    """Create an account with e-mail and password. 201 with the user, and a session unless the
    project requires e-mail confirmation first (then `session` is null).

    Errors: 400 `validation_error` (bad e-mail, weak password: `details.reasons`), 403
    `forbidden` (sign-ups disabled), 409 `email_taken`, 429 `rate_limited` (Supabase's limit,
    `Retry-After` seconds), 503 `auth_unavailable` (not configured or unreachable).
    """
    return _respond(accounts.sign_up(body.email, body.password.get_secret_value()), 201)


@bp.post(
    "/login",
    responses={
        200: AuthResponse,
        **error_responses(
            InvalidCredentials, EmailNotConfirmed, AccountSuspended, RateLimited, AuthUnavailable
        ),
    },
)
@auth_endpoint_limit
def login(body: Credentials):
    """Log in with e-mail and password; returns the user and a session (access + refresh token).

    Errors: 400 `validation_error`, 401 `invalid_credentials`, 403 `email_not_confirmed` or
    `account_suspended`, 429 `rate_limited`, 503 `auth_unavailable`.
    """
    return _respond(accounts.log_in(body.email, body.password.get_secret_value()))


@bp.post(
    "/refresh",
    responses={
        200: AuthResponse,
        **error_responses(InvalidCredentials, RateLimited, AuthUnavailable),
    },
)
@auth_endpoint_limit
def refresh(body: RefreshBody):
    """Exchange a refresh token for a new session (refresh tokens are single use).

    Errors: 400 `validation_error`, 401 `invalid_credentials` (invalid, expired or used refresh
    token), 429 `rate_limited`, 503 `auth_unavailable`.
    """
    return _respond(accounts.refresh(body.refresh_token))


@bp.post(
    "/logout",
    security=BEARER_SECURITY,
    responses={
        200: LogoutResponse,
        **error_responses(InvalidToken, RateLimited, AuthUnavailable),
    },
)
@bearer_required
def logout(query: LogoutQuery):
    """Log out: revoke the refresh tokens of this session (`scope=local`), of all the user's
    sessions (`global`, the default) or of all others (`others`). The access token itself
    stays valid until it expires. An already ended session counts as logged out.

    Errors: 401 `invalid_token`, 429 `rate_limited`, 503 `auth_unavailable`.
    """
    access_token = request.headers["Authorization"].partition(" ")[2].strip()
    accounts.log_out(access_token, query.scope)
    return _respond({"logged_out": True, "scope": query.scope})
