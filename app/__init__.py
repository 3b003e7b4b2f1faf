"""CreatorScrape API: the Flask application factory."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, datetime
from typing import Any

from flask import g, request
from flask.json.provider import DefaultJSONProvider
from flask_openapi3 import Info, OpenAPI

from app import db, doors, errors, input_rules, limits, logs, spec, tokens
from app.config import load_config
from app.openapi import SECURITY_SCHEMES, validation_error_callback

__version__ = "0.1.0"
log = logging.getLogger("app.request")


class JSONProvider(DefaultJSONProvider):
    """JSON with ISO 8601 datetimes (Flask's default is the HTTP date format) and key order kept;
    parsing applies ``app.input_rules``."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime | date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse a request body under ``app.input_rules`` (depth, NUL, lone surrogates)."""
        return input_rules.loads(s)


def create_app(config: dict[str, Any] | None = None) -> OpenAPI:
    """Build the app: settings from the environment, then ``config`` overrides on top.

    Opens the database pool (starting the embedded Postgres when ``DATABASE_URL`` is empty),
    binds the rate limiter, the error handlers and the ``/v1`` blueprints. Raises
    ``app.config.ConfigError`` on malformed settings.
    """
    app = OpenAPI(
        __name__,
        info=Info(
            title="CreatorScrape API",
            version=__version__,
            description=(
                "Clean, structured data about online creators, paid per call with credits. "
                "Authenticate with an `x-api-key` header. Every error uses one envelope: "
                '`{"error": {"code", "message", "details", "request_id"}}`.'
            ),
        ),
        security_schemes=SECURITY_SCHEMES,
        validation_error_status=400,
        validation_error_callback=validation_error_callback,
        doc_prefix="/docs",
    )
    app.config.update(load_config())
    app.config.update(config or {})
    app.json = JSONProvider(app)

    logs.configure(app.config["LOG_LEVEL"])
    if app.config["FETCH_ALLOW_LOOPBACK"]:
        log.warning("FETCH_ALLOW_LOOPBACK is on: the fetcher may reach 127.0.0.1. Test-only.")
    errors.init_app(app)
    _init_request_ids(app)
    input_rules.init_app(app)
    doors.init_app(app)
    db.init_app(app)
    limits.init_app(app, doors.LIMIT_SETTINGS)
    tokens.init_app(app)

    from app import cli
    from app.v1 import register as register_v1

    register_v1(app)
    cli.init_app(app)
    spec.finish_document(app)
    return app


def _init_request_ids(app: OpenAPI) -> None:
    """Give every request a fresh id (``g.request_id``, ``X-Request-ID`` on the response).

    The id is always generated here, because it is also the ledger ref of any charge; an
    incoming ``X-Request-ID`` is logged as ``client_request_id`` for correlation.
    """

    @app.before_request
    def _start() -> None:
        g.request_id = f"req_{uuid.uuid4().hex}"
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if response.status_code != 429:
            response.headers.pop("Retry-After", None)
        client_id = request.headers.get("X-Request-ID", "")[:128]
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 2),
                "client_request_id": client_id or None,
                "api_key_id": str(g.principal.api_key_id) if g.get("principal") else None,
            },
        )
        return response
