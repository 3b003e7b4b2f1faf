"""Rate limits: flask-limiter for the configuration and storage, and the per-key limit of every
``x-api-key`` call checked directly on that storage with the ``limits`` library.

Every ``x-api-key`` endpoint shares one limit per key: the limit string of the key's plan from
``RATELIMIT_PLAN_LIMITS`` (e.g. ``{"free": "60 per minute"}``), or the
``RATELIMIT_DEFAULT_PLAN``'s while the plan is not yet known to this process. Responses carry
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch seconds); a 429
``rate_limited`` also carries ``Retry-After`` (seconds).

Storage is ``RATELIMIT_STORAGE_URI``: ``memory://`` (one process) or ``redis://...`` when
several processes serve. If the storage is down, requests are NOT refused: limits are counted
in process memory (``on_storage``) for ``STORAGE_RETRY`` seconds, then the storage is tried
again; the error is logged. The decorator limits of ``app.doors`` use flask-limiter's own
``in_memory_fallback`` to the same effect.

Why the per-key limit does not go through a flask-limiter decorator: that path resolves the
view's limits, exemption scopes and meta limits through Flask's context locals on every call,
about a fifth of the CPU of a ``GET /v1/credits/balance`` (``bench/README.md``). The check here
is one ``hit`` and one ``get_window_stats`` on the same storage, under the same storage key
(``LIMITER/creatorscrape/<key hash>/api_key/...``), so counts carry over. flask-limiter's own
before-request pass (app-wide limits: ``RATELIMIT_DEFAULT``, ``RATELIMIT_APPLICATION``,
``RATELIMIT_META``) is removed while none of those is set: it found nothing to check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, g
from flask_limiter import Limiter
from flask_limiter.constants import ConfigVars
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import RateLimiter

from app.config import ConfigError
from app.errors import RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds the in-memory fallback is used after a storage error before the storage is retried.
STORAGE_RETRY = 30.0
KEY_PREFIX = "creatorscrape"
API_KEY_SCOPE = "api_key"

limiter = Limiter(key_func=lambda: "anonymous", headers_enabled=True, swallow_errors=True)


class _Fallback:
    """The in-memory strategy used while the configured storage is down, and until when."""

    def __init__(self) -> None:
        self.strategy: RateLimiter | None = None
        self.until = 0.0


_fallback = _Fallback()


def on_storage(call: Callable[[RateLimiter], T]) -> T:
    """``call(strategy)`` on the configured storage (flask-limiter's strategy, e.g. fixed
    window). If the storage raises, it is taken as down for ``STORAGE_RETRY`` seconds (logged
    once) and ``call`` runs on the process-memory fallback instead; errors of the fallback
    itself propagate."""
    if time.monotonic() >= _fallback.until:
        try:
            return call(limiter.limiter)
        except Exception as exc:
            log.error(
                "rate-limit storage unavailable, counting in memory for %.0f s: %s",
                STORAGE_RETRY,
                type(exc).__name__,
            )
            _fallback.until = time.monotonic() + STORAGE_RETRY
    return call(_fallback.strategy)


def plan_limit(plan: str | None) -> RateLimitItem:
    """The parsed limit of ``plan`` (the default plan's for None or an unknown plan)."""
    items = current_app.extensions["plan_limits"]
    return items.get(plan) or items[current_app.config["RATELIMIT_DEFAULT_PLAN"]]


def hit_api_key_limit(key_hash: str, plan: str | None) -> None:
    """Count one call of the key ``key_hash`` against its plan's limit and remember the
    ``X-RateLimit-*`` headers for the response. Raises 429 ``rate_limited`` (with
    ``Retry-After``, seconds) when the limit is spent. Does nothing when ``RATELIMIT_ENABLED``
    is off."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    item = plan_limit(plan)
    identifiers = (KEY_PREFIX, key_hash, API_KEY_SCOPE)
    allowed, window = on_storage(
        lambda s: (s.hit(item, *identifiers), s.get_window_stats(item, *identifiers))
    )
    reset = int(window.reset_time + 1)
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(reset),
    }
    if not allowed:
        retry_after = max(1, int(reset - time.time()))
        raise RateLimited(headers={"Retry-After": str(retry_after)})


def _add_headers(response: Response) -> Response:
    headers = g.get("rate_limit_headers")
    if headers:
        response.headers.update(headers)
    return response


def init_app(app: Flask) -> None:
    """Bind flask-limiter with the configured storage and its memory fallback, parse the plan
    limits (``ConfigError`` when one is malformed or the default plan has none), set up the
    per-key check's fallback and headers, and drop flask-limiter's before-request pass when no
    app-wide limit is configured (see the module docstring)."""
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", KEY_PREFIX)
    limiter.init_app(app)
    try:
        plans = {plan: parse(s) for plan, s in app.config["RATELIMIT_PLAN_LIMITS"].items()}
    except ValueError as exc:
        message = "RATELIMIT_PLAN_LIMITS values must be limits like '60 per minute'"
        raise ConfigError(message) from exc
    if app.config["RATELIMIT_DEFAULT_PLAN"] not in plans:
        raise ConfigError("RATELIMIT_DEFAULT_PLAN must be a plan of RATELIMIT_PLAN_LIMITS")
    app.extensions["plan_limits"] = plans
    _fallback.strategy = type(limiter.limiter)(MemoryStorage())
    _fallback.until = 0.0
    if _add_headers not in app.after_request_funcs[None]:  # a rebind (tests) adds no second one
        app.after_request(_add_headers)
    app_wide = (ConfigVars.DEFAULT_LIMITS, ConfigVars.APPLICATION_LIMITS, ConfigVars.META_LIMITS)
    hooks = app.before_request_funcs[None]
    if limiter._check_request_limit in hooks and not any(app.config.get(n) for n in app_wide):
        hooks.remove(limiter._check_request_limit)  # flask-limiter adds it on the first bind
