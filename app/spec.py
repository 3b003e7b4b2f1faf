"""The finishing touches of the OpenAPI document that no single view can state.

``finish_document(app)`` runs once at start-up, after every blueprint is registered. On top of
what flask-openapi3 builds from the views' models it declares:

- request headers: ``X-Request-ID`` on every operation, ``Idempotency-Key`` on the operations
  that honour it (their description names it);
- response headers: ``X-Request-ID`` on every response; ``X-RateLimit-Limit``,
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` on every response of a rate-limited
  operation (any ``x-api-key`` or Bearer operation, and sign-up, login and refresh), which also
  documents 429 ``rate_limited`` with ``Retry-After``; ``Idempotent-Replayed`` on the 2xx
  responses of the ``Idempotency-Key`` operations;
- the byte limits of a request (``x-request-limits`` and the info description), the ones the
  server's gunicorn settings (``app.serving``) enforce, so every request the document allows is
  accepted;
- ``maxItems`` of ``CreateJobBody.urls``: this server's ``JOBS_MAX_URLS``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from app import serving
from app.errors import RateLimited

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}

PARAMETERS: dict[str, dict[str, Any]] = {
    "RequestId": {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": (
            "Your own id for this request, logged as `client_request_id` for correlation. The "
            "response's `X-Request-ID` is always a fresh id of ours."
        ),
        "schema": {"type": "string", "maxLength": serving.CLIENT_REQUEST_ID_MAX_LENGTH},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Makes a retry safe: the first successful response to this key is replayed for 24 h "
            "(with `Idempotent-Replayed: true`) and nothing is charged again."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id (`req_...`); quote it to support.",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the current window ends (Unix epoch seconds).",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying (429 only).",
        "schema": {"type": "integer"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this response is the replay of an earlier one "
        "(`Idempotency-Key`); nothing was charged for it.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

_RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
#: Unauthenticated operations limited per client address (``app.doors``).
ADDRESS_LIMITED_PATHS = ("/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh")


def _header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _rate_limited(path: str, operation: dict[str, Any], default_security: list) -> bool:
    security = operation.get("security", default_security) or []
    schemes = {name for requirement in security for name in requirement}
    return bool(schemes & {"ApiKeyAuth", "BearerAuth"}) or path in ADDRESS_LIMITED_PATHS


def _finish_operation(path: str, operation: dict[str, Any], default_security: list) -> None:
    parameters = operation.setdefault("parameters", [])
    parameters.append(PARAMETERS["RequestId"])
    idempotent = "Idempotency-Key" in operation.get("description", "")
    if idempotent:
        parameters.append(PARAMETERS["IdempotencyKey"])
    limited = _rate_limited(path, operation, default_security)
    responses = operation.setdefault("responses", {})
    if limited and "429" not in responses:
        responses["429"] = {
            "description": f"Error codes: `{RateLimited.code}`",
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = _header_ref("X-Request-ID")
        if limited:
            for name in _RATE_HEADERS:
                headers[name] = _header_ref(name)
        if status == "429":
            headers["Retry-After"] = _header_ref("Retry-After")
        if idempotent and status.startswith("2"):
            headers["Idempotent-Replayed"] = _header_ref("Idempotent-Replayed")


def finish_document(app: Flask) -> dict[str, Any]:
    """Build ``app``'s OpenAPI document now and add the headers, limits and bounds above.
    Returns the document (``app.api_doc``)."""
    from app.v1.jobs import HARD_MAX_URLS  # late: app.v1 imports app (this package)

    document = app.api_doc
    components = document.setdefault("components", {})
    components.setdefault("headers", {}).update(HEADERS)
    default_security = document.get("security", [])
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            _finish_operation(path, operation, default_security)
    limits = serving.request_limits(app.config["MAX_CONTENT_LENGTH"])
    document["x-request-limits"] = limits
    document["info"]["description"] += (
        f" Requests: request line (method, path and percent-encoded query) at most "
        f"{limits['request_line_bytes']} bytes, at most {limits['header_fields']} headers of at "
        f"most {limits['header_field_bytes']} bytes each, body at most {limits['body_bytes']} "
        "bytes; JSON bodies nest at most "
        f"{limits['json_depth']} levels; strings never contain NUL or lone UTF-16 surrogates."
    )
    urls = components["schemas"]["CreateJobBody"]["properties"]["urls"]
    urls["maxItems"] = min(app.config["JOBS_MAX_URLS"], HARD_MAX_URLS)
    return document
