"""``Idempotency-Key`` support for paid ``x-api-key`` endpoints.

The first successful (2xx) response to a key is stored for ``IDEMPOTENCY_TTL`` seconds (24 h) and
replayed to any retry with the same key and the same request (method, path, query, body) without
charging again; the replay carries ``Idempotent-Replayed: true``. A different request with the
same key is 409 ``idempotency_conflict``; a retry while the first is still running is 409
``idempotency_in_progress`` (until ``FETCH_DEADLINE`` + 60 s have passed: a claim left by a
process that died is then taken over, and that process's unsettled lookup charge is refunded in
the same transaction, so the retry is never charged twice for one result). A request that fails
stores nothing (its charge was refunded), so the client may retry it with the same key; a 2xx
answer whose charge was refunded (posts or history with nothing to show) is stored and replayed
like any other. Keys are
scoped to the API key that sent them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, make_response, request

from app import db
from app.errors import Conflict, IdempotencyConflict, ValidationFailed
from app.queries import idempotency as queries
from app.security import charge

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: seconds beyond the fetch deadline after which an unfinished claim is taken to be abandoned
PENDING_GRACE = 60


class IdempotencyInProgress(Conflict):
    """409 ``idempotency_in_progress``: the first request with this key has not finished."""

    code = "idempotency_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry later."


def _fingerprint() -> str:
    parts = [request.method, request.path, json.dumps(sorted(request.args.items(multi=True)))]
    digest = hashlib.sha256("\n".join(parts).encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(view: Callable) -> Callable:
    """Decorator (below ``api_key_required``): honour the ``Idempotency-Key`` header.

    Errors: 400 ``validation_error`` (key longer than 255 characters), 409
    ``idempotency_conflict``, 409 ``idempotency_in_progress``.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        idem_key = request.headers.get(HEADER)
        if idem_key is None:
            return view(*args, **kwargs)
        if not 0 < len(idem_key) <= MAX_KEY_LENGTH:
            raise ValidationFailed(
                details={"fields": [{"field": HEADER, "message": "1-255 characters."}]}
            )
        key_hash = g.api_key_hash
        fingerprint = _fingerprint()
        config = current_app.config
        with db.connection() as conn:
            existing = queries.claim(
                conn,
                key_hash,
                idem_key,
                fingerprint,
                config["IDEMPOTENCY_TTL"],
                pending_timeout=int(config["FETCH_DEADLINE"]) + PENDING_GRACE,
                request_id=g.request_id,
            )
        if existing is not None:
            return _replay(existing, fingerprint)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            with db.connection() as conn:
                queries.release(conn, key_hash, idem_key)
            raise
        with db.connection() as conn:
            if 200 <= response.status_code < 300 and response.is_json:
                queries.complete(
                    conn,
                    key_hash,
                    idem_key,
                    response.status_code,
                    response.get_json(),
                    fingerprint=fingerprint,
                    request_id=g.request_id,
                )
            else:
                queries.release(conn, key_hash, idem_key)
        return response

    return wrapper


def _replay(existing: dict[str, Any], fingerprint: str) -> Any:
    if existing["request_fingerprint"] != fingerprint:
        raise IdempotencyConflict()
    if existing["status_code"] is None:
        raise IdempotencyInProgress()
    charge(0)  # the key must still be valid to see a replay
    response = make_response(existing["response"], existing["status_code"])
    response.headers["Idempotent-Replayed"] = "true"
    return response
