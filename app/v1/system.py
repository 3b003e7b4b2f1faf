"""Unauthenticated system routes: health check and the OpenAPI document."""

from __future__ import annotations

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from app import db
from app.errors import Unavailable
from app.openapi import error_responses

tag = Tag(name="system", description="Health and API description; no authentication.")
bp = APIBlueprint("system", __name__, abp_tags=[tag])
v1_bp = APIBlueprint("v1_system", __name__, abp_tags=[tag])


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
