"""Unauthenticated system routes: health check and the OpenAPI document."""

from __future__ import annotations

from flask import current_app
from pydantic import BaseModel, Field

from app import db
from app.errors import Unavailable
from app.openapi import error_responses, resource_blueprint

_DESCRIPTION = "Health and API description; no authentication."
bp = resource_blueprint("system", __name__, None, _DESCRIPTION)
v1_bp = resource_blueprint("v1_system", __name__, None, _DESCRIPTION)


class Health(BaseModel):
    status: str = Field(description='"ok" when the database answered.')
    database: str = Field(description='"ok" when `select 1` succeeded.')


@bp.get("/healthz", responses={200: Health, **error_responses(Unavailable)})
def healthz():
    """Liveness and readiness: 200 when the database answers `select 1`, else 503
    `unavailable`."""
    with db.connection() as conn:
        conn.execute("select 1").fetchone()
    return {"status": "ok", "database": "ok"}


@v1_bp.get("/openapi.json", doc_ui=False)
def openapi_document():
    """The OpenAPI 3.1 document of this API (also rendered at `/docs`)."""
    return current_app.api_doc
