"""Structured (one JSON object per line) logging, with the request id on every record.

Nothing secret is ever passed to a logger: API keys appear only as their 12-character display
prefix or hash, tokens and passwords never. ``RedactingFilter`` is a last line of defence that
masks anything shaped like a full API key or a bearer token in a message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from flask import g, has_request_context

#: Queue tasks whose routine INFO lines from the queue engine (deferred, started, succeeded) are
#: dropped: periodic housekeeping that would otherwise print four lines every few seconds.
#: Their warnings and errors, and what the tasks log themselves, still go out.
QUIET_TASKS: set[str] = set()

_SECRET_RE = re.compile(r"(cs_live_[0-9A-Za-z]{4})[0-9A-Za-z]{32}|(Bearer\s+)[\w.~+/=-]+")
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _redact(text: str) -> str:
    return _SECRET_RE.sub(lambda m: (m.group(1) or m.group(2)) + "[redacted]", text)


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON: time, level, logger, message, request_id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _redact(record.getMessage()),
        }
        if has_request_context():
            payload["request_id"] = g.get("request_id")
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = _redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class QuietTicksFilter(logging.Filter):
    """Drops the queue engine's (procrastinate's) INFO records about a task in ``QUIET_TASKS``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("procrastinate"):
            return True
        job = getattr(record, "job", None)
        task = job.get("task_name") if isinstance(job, dict) else None
        return (task or getattr(record, "task_name", None)) not in QUIET_TASKS


def configure(level: str) -> None:
    """Send the app's logs to stderr as JSON lines at ``level`` (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(QuietTicksFilter())
    root.addHandler(handler)
    root.setLevel(level)
