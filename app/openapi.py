"""Shared OpenAPI pieces: the error envelope schema, security schemes and error responses.

Request and response models are pydantic models declared next to their views; flask-openapi3
validates requests with them and builds the OpenAPI 3.1 document from the same models.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, ValidationError

from app.errors import ApiError, InvalidApiKey, RateLimited, ValidationFailed

API_KEY_SECURITY = [{"ApiKeyAuth": []}]
BEARER_SECURITY = [{"BearerAuth": []}]

SECURITY_SCHEMES = {
    "ApiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "An API key (cs_live_...). Create one in the dashboard.",
    },
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Supabase Auth access token (dashboard endpoints).",
    },
}


class QueryModel(BaseModel):
    """Base of every query-string model: its JSON schema is built once per model, not once per
    request.

    flask-openapi3 reads ``model_json_schema()`` (no arguments) on every request to decide
    which parameters are lists; pydantic rebuilds the schema on each call (about 0.7 ms for
    ``ProfileQuery``). That call returns one shared, read-only copy (nested ``Mapping``s and
    tuples: editing it raises ``TypeError``); calls with arguments, such as the OpenAPI
    document's, get pydantic's fresh ``dict`` as before.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> Any:
        """pydantic's ``model_json_schema``; without arguments, the cached read-only copy."""
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _frozen_schema(cls)


@cache
def _frozen_schema(model: type[QueryModel]) -> Mapping[str, Any]:
    return _freeze(BaseModel.model_json_schema.__func__(model))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


class ErrorBody(BaseModel):
    code: str = Field(description="Stable snake_case error code; branch on this.")
    message: str = Field(description="Human-readable explanation; may change.")
    details: dict[str, Any] = Field(description="Code-specific details (e.g. required, balance).")
    request_id: str | None = Field(description="This request's id; quote it to support.")


class ErrorResponse(BaseModel):
    """The one error envelope every endpoint uses."""

    error: ErrorBody


_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def error_responses(*errors: type[ApiError]) -> dict[int, dict[str, Any]]:
    """OpenAPI responses for ``errors`` (grouped by status, codes listed in the description).

    Every endpoint also documents 400 ``validation_error``; ``resource_blueprint`` adds 500
    ``internal_error`` (which also publishes the ``ErrorResponse`` schema).
    """
    by_status: dict[int, list[str]] = {}
    for err in (ValidationFailed, *errors):
        codes = by_status.setdefault(err.status, [])
        if err.code not in codes:
            codes.append(err.code)
    return {
        status: {
            "description": "Error codes: " + ", ".join(f"`{c}`" for c in codes),
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
        for status, codes in sorted(by_status.items())
    }


API_KEY_ERRORS = (InvalidApiKey, RateLimited)


def resource_blueprint(
    name: str,
    import_name: str,
    url_prefix: str | None,
    description: str,
    security: list[dict[str, list]] | None = None,
) -> APIBlueprint:
    """A ``/v1`` resource blueprint: one OpenAPI tag, optional security, and the documented
    500 ``internal_error`` envelope on every operation."""
    return APIBlueprint(
        name,
        import_name,
        url_prefix=url_prefix,
        abp_tags=[Tag(name=name, description=description)],
        abp_security=security,
        abp_responses={500: ErrorResponse},
    )


def validation_error_callback(exc: ValidationError):
    """flask-openapi3 hook: turn pydantic's error into 400 ``validation_error`` naming fields."""
    fields = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": error["msg"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]
    raise ValidationFailed(details={"fields": fields})
