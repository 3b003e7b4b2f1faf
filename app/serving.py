"""How the API is served: gunicorn's request limits and the process model the rate limiter
needs. ``gunicorn.conf.py`` (read by gunicorn from the working directory) applies them, so
``./scripts/serve`` and a bare ``gunicorn wsgi:app`` behave alike; ``app.spec`` publishes the
same numbers in the OpenAPI document.

Every request the OpenAPI document allows fits: the longest request line it allows (a
2,048-character ``url`` whose every character is a 4-byte UTF-8 sequence, percent-encoded, is
about 25 KB) is below ``app.input_rules.MAX_REQUEST_LINE_BYTES`` (32 KB), which the app checks
itself (414 ``uri_too_long`` in the JSON envelope); gunicorn's own request-line limit is off (it
then still stops at 1 MiB). Header fields up to ``HEADER_FIELD_BYTES`` each.
"""

from __future__ import annotations

from app.input_rules import MAX_JSON_DEPTH, MAX_REQUEST_LINE_BYTES

HEADER_FIELD_BYTES = 16_384
HEADER_FIELDS = 100
CLIENT_REQUEST_ID_MAX_LENGTH = 128

#: gunicorn settings (``gunicorn.conf.py``): 0 = no gunicorn limit on the request line.
GUNICORN_LIMITS = {
    "limit_request_line": 0,
    "limit_request_field_size": HEADER_FIELD_BYTES,
    "limit_request_fields": HEADER_FIELDS,
}


def request_limits(max_content_length: int) -> dict[str, int]:
    """The byte limits a request must keep (published as ``x-request-limits``)."""
    return {
        "request_line_bytes": MAX_REQUEST_LINE_BYTES,
        "header_field_bytes": HEADER_FIELD_BYTES,
        "header_fields": HEADER_FIELDS,
        "body_bytes": max_content_length,
        "json_depth": MAX_JSON_DEPTH,
    }


class UnsharedLimits(RuntimeError):
    """Several processes would each count rate limits in their own memory."""


def check_process_model(workers: int, storage_uri: str) -> None:
    """Refuse ``workers`` > 1 with per-process limiter storage (``memory://``): each process
    would count separately and a 60/min key would get 60 x workers. Use one process (with
    threads) or a shared ``RATELIMIT_STORAGE_URI`` (``redis://...``). Raises ``UnsharedLimits``.
    """
    if workers > 1 and storage_uri.startswith("memory://"):
        raise UnsharedLimits(
            f"{workers} gunicorn worker processes with RATELIMIT_STORAGE_URI={storage_uri} would "
            f"each count rate limits separately ({workers}x every documented limit). Serve with "
            "one process (WEB_CONCURRENCY=1; threads give concurrency) or set "
            "RATELIMIT_STORAGE_URI=redis://... shared by all processes."
        )
