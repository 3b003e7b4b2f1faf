"""Credit functions and ledger reads.

The SQL functions in ``supabase/migrations`` are the only way credits move; these wrappers call
them and turn their documented SQLSTATEs into API errors.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors as pg_errors

from app.errors import AccountSuspended, InsufficientCredits, InvalidApiKey

_INVALID_KEY_STATES = {"CS001", "CS002", "CS003"}


def spend(conn: psycopg.Connection, key_hash: str, cost: int, ref: str) -> dict[str, Any]:
    """``public.spend_credits``: authenticate ``key_hash`` and take ``cost`` credits.

    Returns ``{"user_id", "api_key_id", "plan", "balance"}``. Raises ``InvalidApiKey`` (unknown,
    revoked or expired key: one public error), ``AccountSuspended``, ``InsufficientCredits``
    with ``details = {"required", "balance", "shortfall"}`` (credits).
    """
    try:
        row = conn.execute(
            "select * from public.spend_credits(%s, %s, %s)", (key_hash, cost, ref)
        ).fetchone()
    except pg_errors.RaiseException as exc:
        raise _credit_error(exc) from None
    except psycopg.Error as exc:
        if exc.sqlstate in _INVALID_KEY_STATES or exc.sqlstate in {"CS004", "CS005"}:
            raise _credit_error(exc) from None
        raise
    return row


def _credit_error(exc: psycopg.Error) -> Exception:
    state = exc.sqlstate
    if state in _INVALID_KEY_STATES:
        return InvalidApiKey()
    if state == "CS005":
        return AccountSuspended()
    if state == "CS004":
        detail = json.loads(exc.diag.message_detail or "{}")
        required, balance = int(detail.get("required", 0)), int(detail.get("balance", 0))
        noun = "credit" if required == 1 else "credits"
        return InsufficientCredits(
            f"This call costs {required} {noun}; the balance is {balance}.",
            details={"required": required, "balance": balance, "shortfall": required - balance},
        )
    return exc


def refund(
    conn: psycopg.Connection, ref: str, amount: int | None = None, refund_ref: str | None = None
) -> dict[str, Any]:
    """``public.refund_credits``: give back credits of the usage row ``ref``.

    ``amount=None`` refunds all that remains, once (refund ref = ``ref``); otherwise ``amount``
    credits once per ``refund_ref``, never more than was charged. Returns ``{"applied",
    "refunded", "balance"}``.
    """
    if amount is None and refund_ref is None:
        return conn.execute("select * from public.refund_credits(%s)", (ref,)).fetchone()
    return conn.execute(
        "select * from public.refund_credits(%s, %s, %s)", (ref, amount, refund_ref or ref)
    ).fetchone()


def grant(
    conn: psycopg.Connection, user_id: UUID | str, amount: int, reason: str, ref: str
) -> dict[str, Any]:
    """``public.grant_credits``: add ``amount`` credits once per ``(reason, ref)``.

    Returns ``{"applied", "balance", "ledger_id"}``.
    """
    return conn.execute(
        "select * from public.grant_credits(%s, %s, %s, %s)", (user_id, amount, reason, ref)
    ).fetchone()


def balance(conn: psycopg.Connection, user_id: UUID | str) -> int | None:
    """The user's balance in credits, or None when the user has no balance row."""
    row = conn.execute(
        "select balance from public.credit_balances where user_id = %s", (user_id,)
    ).fetchone()
    return None if row is None else row["balance"]


def history(
    conn: psycopg.Connection, user_id: UUID | str, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` ledger rows of a user, newest first, with ``id < before_id`` if given."""
    return conn.execute(
        "select id, delta, balance_after, reason, ref, created_at"
        "  from public.credit_ledger"
        " where user_id = %(user_id)s and (%(before)s::bigint is null or id < %(before)s)"
        " order by id desc limit %(limit)s",
        {"user_id": user_id, "before": before_id, "limit": limit},
    ).fetchall()


def raise_credit_error(exc: psycopg.Error) -> None:
    """Raise the API error for a ``spend_credits`` SQLSTATE raised by a function that calls it
    (``InvalidApiKey``, ``AccountSuspended``, ``InsufficientCredits``); returns for any other."""
    if exc.sqlstate in _INVALID_KEY_STATES or exc.sqlstate in {"CS004", "CS005"}:
        raise _credit_error(exc) from None
