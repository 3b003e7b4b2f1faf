"""The shape check of a signed Stripe webhook body: one validation step before dispatch.

``parse(payload)`` returns the event when the body is a JSON object under the request rules of
``app.input_rules`` (nesting depth, no NUL or lone surrogates) with Stripe's event shape: an
``id`` like ``evt_...``, a ``type`` of lower-case dotted words, a ``data.object`` object, an
integer ``created`` and a boolean ``livemode`` when present, and every ``metadata`` inside
``data.object`` an object of strings (Stripe's metadata always is). Anything else raises
``MalformedEvent``.

A signed but malformed body cannot be applied, and answering it with an error would make Stripe
redeliver it for days: ``record(payload, exc)`` stores it once in
``private.stripe_malformed_events`` (a redelivery of the same bytes counts up ``deliveries``) and
the webhook answers 200 with outcome ``malformed``. Nothing else changes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from app import db, input_rules
from app.queries import malformed_events as queries

log = logging.getLogger(__name__)

EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_TYPE_LENGTH = 100
EXCERPT_CHARS = 4096


class MalformedEvent(ValueError):
    """A signed webhook body that is not a well-formed Stripe event. ``reason`` says why;
    ``event_id`` / ``event_type`` are the body's own when they are clean, else None."""

    def __init__(self, reason: str, event_id: str | None = None, event_type: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.event_type = event_type


def _clean_type(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_TYPE_LENGTH and EVENT_TYPE.match(value):
        return value
    return None


def _is_metadata(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, dict) and all(isinstance(v, str | None) for v in value.values())


def _check_metadata(value: Any, path: str) -> str | None:
    """The path of the first ``metadata`` that is not an object of strings (or null)."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if key == "metadata" and not _is_metadata(child):
                    return f"{where}.metadata"
                stack.append((child, f"{where}.{key}"))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(node))
    return None


def parse(payload: bytes) -> dict[str, Any]:
    """The event in a signed webhook ``payload``. Raises ``MalformedEvent``."""
    try:
        event = input_rules.loads(payload)
    except input_rules.UnsafeInput as exc:
        raise MalformedEvent(str(exc)) from None
    except ValueError:
        raise MalformedEvent("The body is not JSON.") from None
    if not isinstance(event, dict):
        raise MalformedEvent("The body is not a JSON object.")
    raw_id = event.get("id")
    event_id = raw_id if isinstance(raw_id, str) and EVENT_ID.match(raw_id) else None
    event_type = _clean_type(event.get("type"))
    if event_id is None:
        raise MalformedEvent("id must be a Stripe event id (evt_...).", None, event_type)
    if event_type is None:
        raise MalformedEvent("type must be a Stripe event type (e.g. charge.refunded).", event_id)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("data.object must be an object.", event_id, event_type)
    created = event.get("created")
    if created is not None and (isinstance(created, bool) or not isinstance(created, int)):
        raise MalformedEvent("created must be an integer (Unix seconds).", event_id, event_type)
    if not isinstance(event.get("livemode", False), bool):
        raise MalformedEvent("livemode must be a boolean.", event_id, event_type)
    bad_metadata = _check_metadata(data["object"], "data.object")
    if bad_metadata is not None:
        raise MalformedEvent(f"{bad_metadata} must be an object of strings.", event_id, event_type)
    return event


def _excerpt(payload: bytes) -> str:
    text = payload[: EXCERPT_CHARS * 4].decode("utf-8", "backslashreplace")[:EXCERPT_CHARS]
    return text.replace("\x00", "\\x00")


def record(payload: bytes, exc: MalformedEvent) -> dict[str, Any]:
    """Store a malformed delivery once (``private.stripe_malformed_events``) and return the
    webhook's answer: ``{"received": true, "duplicate", "outcome": "malformed"}``."""
    digest = hashlib.sha256(payload).hexdigest()
    with db.connection() as conn:
        first = queries.record(
            conn,
            payload_sha256=digest,
            event_id=exc.event_id,
            event_type=exc.event_type,
            reason=exc.reason,
            payload_bytes=len(payload),
            payload_excerpt=_excerpt(payload),
        )
    log.warning(
        "stripe webhook body malformed",
        extra={"payload_sha256": digest, "event_id": exc.event_id, "reason": exc.reason},
    )
    return {"received": True, "duplicate": not first, "outcome": "malformed"}
