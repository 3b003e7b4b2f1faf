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


def stop_unused_embedded_postgres() -> str:
    """Stop the embedded Postgres (``EMBEDDED_PG_DIR``, when ``DATABASE_URL`` is empty) if no
    live process still uses it. ``./scripts/serve`` calls it after the API and the worker have
    exited: pgserver stops the server with its last user, but a user that died without running
    its exit handlers (killed, or interrupted while starting) stays on pgserver's list of users
    and would keep the server running forever. Returns what it did (for the log line).
    """
    import json
    import os
    from pathlib import Path

    import psutil

    from app.config import load_config

    config = load_config()
    if config["DATABASE_URL"]:
        return "not embedded"
    data_dir = Path(config["EMBEDDED_PG_DIR"]).resolve()
    if not (data_dir / "postmaster.pid").exists():
        return "not running"
    users_file = data_dir / ".handle_pids.json"
    users = json.loads(users_file.read_text()) if users_file.exists() else []
    alive = [pid for pid in users if pid != os.getpid() and psutil.pid_exists(pid)]
    if alive:
        return f"still used by {alive}"
    users_file.write_text("[]")  # forget users that are gone
    import pgserver

    pgserver.get_server(data_dir, cleanup_mode="stop")  # we are its only user: stops at exit
    return "stopped"


if __name__ == "__main__":
    print(f"embedded postgres: {stop_unused_embedded_postgres()}")
