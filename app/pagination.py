"""Opaque cursors for keyset pagination over ``bigint`` ids, newest first.

A cursor is the URL-safe base64 of ``"<id>"``; clients pass back ``meta.next_cursor`` unchanged.
A tampered cursor (not base64 of a decimal, or outside ``1 .. 2**63 - 1``, Postgres ``bigint``)
is 400 ``validation_error`` on field ``cursor``; every paginated endpoint decodes cursors here.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, Field

from app.errors import ValidationFailed
from app.openapi import QueryModel

MAX_PAGE_SIZE = 100
MAX_CURSOR_ID = 2**63 - 1  # the largest Postgres bigint


class PageQuery(QueryModel):
    """``limit`` (1-100, default 25) and ``cursor`` (from the previous page's ``next_cursor``)."""

    limit: int = Field(25, ge=1, le=MAX_PAGE_SIZE, description="Rows per page (1-100).")
    cursor: str | None = Field(
        None, max_length=64, description="Opaque cursor from the previous page's meta.next_cursor."
    )


def encode_cursor(last_id: int) -> str:
    """Cursor that continues after the row with id ``last_id``."""
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after (None for the first page). Raises ``ValidationFailed``."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value = int(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = -1
    if not 0 < value <= MAX_CURSOR_ID:
        raise ValidationFailed(
            details={"fields": [{"field": "cursor", "message": "Invalid cursor."}]}
        )
    return value


class PageMeta(BaseModel):
    """``meta`` of a paginated list."""

    request_id: str = Field(description="This request's id.")
    has_more: bool = Field(description="True when another page follows.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")


def page(rows: list[dict], limit: int, key: str = "id") -> tuple[list[dict], str | None]:
    """Split ``limit + 1`` fetched rows into the page and the next cursor (None at the end);
    the cursor encodes the last row's ``key`` column."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1][key])
    return rows, None


def page_meta(request_id: str, next_cursor: str | None) -> dict:
    """The ``PageMeta`` dict for a page."""
    return {
        "request_id": request_id,
        "has_more": next_cursor is not None,
        "next_cursor": next_cursor,
    }
