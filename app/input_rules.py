"""One set of rules for everything a request carries, checked once before any view or auth.

Postgres ``text`` cannot hold NUL, UTF-8 cannot encode a lone UTF-16 surrogate, and Python's
JSON parser recurses once per nesting level; so, for every request:

- a JSON body may nest at most ``MAX_JSON_DEPTH`` arrays/objects, and none of its strings (keys
  or values) may contain NUL or a lone surrogate (``\\ud800``-``\\udfff``);
- no query parameter (name or value) and no header value may contain them either;
- the request line (path and percent-encoded query) is at most ``MAX_REQUEST_LINE_BYTES``.

A violation is 400 ``validation_error`` naming the field (``body``, ``query.<name>``,
``header.<name>``), or 414 ``uri_too_long``; nothing runs and nothing is charged. Views and
flask-openapi3 then read the already parsed body (``request.get_json`` caches it). Endpoints in
``RAW_BODY_ENDPOINTS`` (Stripe's webhook) check their bodies themselves with ``loads``, because
they must answer the sender even when the body breaks these rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Request, request

from app.errors import ApiError, ValidationFailed

MAX_JSON_DEPTH = 32
MAX_REQUEST_LINE_BYTES = 32_768
#: Endpoints that parse and judge their own JSON bodies.
RAW_BODY_ENDPOINTS = frozenset({"v1.billing.stripe_webhook"})

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


class UnsafeInput(ValueError):
    """A value breaks the rules above; ``str(exc)`` says how, without echoing the value."""


class UriTooLong(ApiError):
    """414 ``uri_too_long``: the request line is longer than the documented byte limit."""

    status = 414
    code = "uri_too_long"
    default_message = f"The request URI is longer than {MAX_REQUEST_LINE_BYTES} bytes."


def check_text(value: str) -> None:
    """Raise ``UnsafeInput`` when ``value`` holds NUL or a lone UTF-16 surrogate."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return
    if found.group() == "\x00":
        raise UnsafeInput("Strings may not contain the NUL character (U+0000).")
    raise UnsafeInput("Strings may not contain lone UTF-16 surrogates (U+D800-U+DFFF).")


def check_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a parsed JSON value (iteratively): at most ``max_depth`` nested containers, every
    string and key clean (``check_text``). Raises ``UnsafeInput``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            check_text(node)
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise UnsafeInput(f"JSON may nest at most {max_depth} arrays or objects.")
            if isinstance(node, dict):
                for key, child in node.items():
                    check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in node)


def loads(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON under the rules above. Raises ``UnsafeInput`` (a ``ValueError``) for too deep
    nesting (also past Python's recursion limit), NUL or lone surrogates, and ``ValueError``
    for malformed JSON."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise UnsafeInput(f"JSON may nest at most {max_depth} arrays or objects.") from None
    check_value(value, max_depth)
    return value


class StrictRequest(Request):
    """Flask's request whose ``get_json`` failures (the app's JSON provider parses with
    ``loads``) are 400 ``validation_error`` on field ``body``."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        message = str(e) if isinstance(e, UnsafeInput) else "The body is not valid JSON."
        raise ValidationFailed(details={"fields": [{"field": "body", "message": message}]})


def _bad(field: str, exc: UnsafeInput) -> ValidationFailed:
    return ValidationFailed(details={"fields": [{"field": field, "message": str(exc)}]})


def check_request() -> None:
    """The before-request check of the request line, query, headers and JSON body."""
    environ = request.environ
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    line = len(raw_uri) or len(request.path) + 1 + len(request.query_string)
    if line > MAX_REQUEST_LINE_BYTES:
        raise UriTooLong()
    for name, value in request.args.items(multi=True):
        try:
            check_text(name)
            check_text(value)
        except UnsafeInput as exc:
            raise _bad(f"query.{name.replace(chr(0), '')[:64]}", exc) from None
    for name, value in request.headers.items():
        try:
            check_text(value)
        except UnsafeInput as exc:
            raise _bad(f"header.{name}", exc) from None
    if request.is_json and request.endpoint not in RAW_BODY_ENDPOINTS and request.content_length:
        request.get_json()  # parsed once, cached for the view; raises ValidationFailed


def init_app(app: Flask) -> None:
    """Install ``StrictRequest`` and the before-request check on ``app``."""
    app.request_class = StrictRequest
    app.before_request(check_request)
