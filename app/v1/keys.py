"""API keys: create, list, revoke and rotate your keys (dashboard endpoints, Bearer token).

Every call runs as the token's user (``app.db.as_user``), so the database's RLS policies, not
this module, decide which keys the caller can see and change (see ``app.accounts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from flask import g
from pydantic import BaseModel, Field, StringConstraints

from app import accounts
from app.errors import InvalidToken, KeyLimitReached, KeyNotActive, NotFound, Unavailable
from app.openapi import BEARER_SECURITY, QueryModel, error_responses, resource_blueprint
from app.pagination import PageMeta, page_meta
from app.security import bearer_required

bp = resource_blueprint(
    "keys",
    __name__,
    "/keys",
    "Your API keys. Dashboard endpoints: authenticate with `Authorization: Bearer <access "
    "token>` (from /v1/auth/login). A key's plaintext is shown once, when it is created.",
    BEARER_SECURITY,
)

MAX_EXPIRY_DAYS = 3650
Scope = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_:.-]{0,63}$")]


class Meta(BaseModel):
    request_id: str = Field(description="This request's id.")


class CreateKeyBody(BaseModel):
    name: str = Field(
        min_length=1, max_length=100, description="A label for you, e.g. where the key is used."
    )
    expires_in_days: int | None = Field(
        None, ge=1, le=MAX_EXPIRY_DAYS, description="Days until the key expires (null: never)."
    )
    scopes: list[Scope] = Field(
        default_factory=list,
        max_length=20,
        description="Optional labels stored with the key (lowercase, e.g. `creators:read`).",
    )


class KeyIdBody(BaseModel):
    key_id: UUID = Field(description="The key's `id` (from /v1/keys/list).")


class RotateKeyBody(KeyIdBody):
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=MAX_EXPIRY_DAYS,
        description="Days until the new key expires (null: the old key's expiry).",
    )


class ListQuery(QueryModel):
    limit: int = Field(25, ge=1, le=100, description="Keys per page (1-100, default 25).")
    cursor: UUID | None = Field(None, description="`meta.next_cursor` of the previous page.")


class ApiKey(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="The key's first 12 characters, to recognise it.")
    scopes: list[str]
    status: Literal["active", "rotating", "revoked", "expired"] = Field(
        description="`rotating`: replaced by a rotation; works until `revoked_at`."
    )
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last use, to the minute.")
    expires_at: datetime | None = Field(description="Refused from this instant on (null: never).")
    revoked_at: datetime | None = Field(description="Refused from this instant on.")


class NewApiKey(ApiKey):
    key: str = Field(description="The key itself. Shown only in this response; store it now.")


class RotatedApiKey(NewApiKey):
    replaced_key_id: UUID = Field(description="The key this one replaces.")
    replaced_key_revoked_at: datetime = Field(
        description="When the replaced key stops working (now + the grace period)."
    )


class NewKeyResponse(BaseModel):
    data: NewApiKey
    meta: Meta


class RotatedKeyResponse(BaseModel):
    data: RotatedApiKey
    meta: Meta


class KeyResponse(BaseModel):
    data: ApiKey
    meta: Meta


class KeyListResponse(BaseModel):
    data: list[ApiKey]
    meta: PageMeta


_AUTH_ERRORS = (InvalidToken, Unavailable)


def _meta() -> dict:
    return {"request_id": g.request_id}


@bp.post(
    "/create",
    responses={201: NewKeyResponse, **error_responses(*_AUTH_ERRORS, KeyLimitReached)},
)
@bearer_required
def create_key(body: CreateKeyBody):
    """Create an API key. 201 with the key's plaintext in `data.key`: shown once, never again.

    Errors: 400 `validation_error`, 401 `invalid_token`, 409 `key_limit_reached` (you hold
    `details.limit` active keys; revoke one), 503 `unavailable`.
    """
    row = accounts.create_key(g.bearer, body.name, body.scopes, body.expires_in_days)
    return {"data": row, "meta": _meta()}, 201


@bp.get("/list", responses={200: KeyListResponse, **error_responses(*_AUTH_ERRORS)})
@bearer_required
def list_keys(query: ListQuery):
    """Your keys, newest first: prefix, name, status and timestamps; never the key or its hash.

    Errors: 400 `validation_error`, 401 `invalid_token`, 503 `unavailable`.
    """
    rows, next_cursor = accounts.list_keys(g.bearer, query.limit, query.cursor)
    meta = page_meta(g.request_id, next_cursor)
    return {"data": rows, "meta": meta}


@bp.post("/revoke", responses={200: KeyResponse, **error_responses(*_AUTH_ERRORS, NotFound)})
@bearer_required
def revoke_key(body: KeyIdBody):
    """Revoke a key: refused from its next request on. Idempotent; also ends a rotation's
    grace period early.

    Errors: 400 `validation_error`, 401 `invalid_token`, 404 `not_found` (no such key of
    yours), 503 `unavailable`.
    """
    return {"data": accounts.revoke_key(g.bearer, body.key_id), "meta": _meta()}


@bp.post(
    "/rotate",
    responses={
        201: RotatedKeyResponse,
        **error_responses(*_AUTH_ERRORS, NotFound, KeyNotActive, KeyLimitReached),
    },
)
@bearer_required
def rotate_key(body: RotateKeyBody):
    """Replace a key with a new one (same name and scopes; plaintext in `data.key`, shown once).
    The old key keeps working until `data.replaced_key_revoked_at` (the configured grace
    period, default 24 hours), so you can deploy the new one first.

    Errors: 400 `validation_error`, 401 `invalid_token`, 404 `not_found`, 409 `key_not_active`
    (revoked, expired or already rotated), 409 `key_limit_reached`, 503 `unavailable`.
    """
    row = accounts.rotate_key(g.bearer, body.key_id, body.expires_in_days)
    return {"data": row, "meta": _meta()}, 201
