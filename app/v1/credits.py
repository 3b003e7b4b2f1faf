"""Credits: balance and ledger history of the calling key's owner (free calls)."""

from __future__ import annotations

from datetime import datetime

from flask import g
from pydantic import BaseModel, Field

from app import db
from app.errors import AccountSuspended
from app.openapi import API_KEY_ERRORS, API_KEY_SECURITY, error_responses, resource_blueprint
from app.pagination import PageMeta, PageQuery, decode_cursor, page, page_meta
from app.queries import credits as credit_queries
from app.security import api_key_required

bp = resource_blueprint(
    "credits",
    __name__,
    "/credits",
    "Your credit balance and its history. Free calls.",
    API_KEY_SECURITY,
)

_ERRORS = error_responses(*API_KEY_ERRORS, AccountSuspended)


class Meta(BaseModel):
    request_id: str = Field(description="This request's id.")


class Balance(BaseModel):
    balance: int = Field(description="Credits available (1 credit = 1 paid profile lookup).")
    plan: str = Field(description="Your plan; it sets your rate limit.")


class BalanceResponse(BaseModel):
    data: Balance
    meta: Meta


class LedgerEntry(BaseModel):
    id: int = Field(description="Ledger row id (increasing).")
    delta: int = Field(description="Signed change in credits.")
    balance_after: int = Field(description="Balance right after this change, in credits.")
    reason: str = Field(description="signup_grant, purchase, admin_grant, usage, refund, ...")
    ref: str = Field(description="Request id (usage/refund) or payment reference (grants).")
    created_at: datetime


class HistoryResponse(BaseModel):
    data: list[LedgerEntry]
    meta: PageMeta


@bp.get("/balance", responses={200: BalanceResponse, **_ERRORS})
@api_key_required(cost=0)
def get_balance():
    """Your current balance in credits and your plan. Free; authenticates the key.

    Errors: 401 `invalid_api_key`, 403 `account_suspended`, 429 `rate_limited`.
    """
    return {
        "data": {"balance": g.principal.balance, "plan": g.principal.plan},
        "meta": {"request_id": g.request_id},
    }


@bp.get("/history", responses={200: HistoryResponse, **_ERRORS})
@api_key_required(cost=0)
def get_history(query: PageQuery):
    """Your credit ledger, newest first, cursor-paginated (`limit` 1-100, `cursor`). Free.

    Errors: 400 `validation_error` (bad limit or cursor), 401 `invalid_api_key`,
    429 `rate_limited`.
    """
    before = decode_cursor(query.cursor)
    with db.connection() as conn:
        rows = credit_queries.history(conn, g.principal.user_id, query.limit + 1, before)
    rows, next_cursor = page(rows, query.limit)
    return {"data": rows, "meta": page_meta(g.request_id, next_cursor)}
