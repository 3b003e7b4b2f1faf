"""Rate limits, counted with the ``limits`` library (fixed windows) in ``RATELIMIT_STORAGE_URI``.

Every limited call is one ``hit`` and one ``get_window_stats`` on the storage (``count``), under
the key ``LIMITER/creatorscrape/<who>/<scope>/<limit>``; responses of limited calls carry
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch seconds), and
a refused call is 429 ``rate_limited`` with ``Retry-After`` (seconds). The limits:

- **per API key** (``hit_api_key_limit``, scope ``api_key``): every ``x-api-key`` endpoint shares
  one limit per key, the limit string of the key's plan from ``RATELIMIT_PLAN_LIMITS`` (e.g.
  ``{"free": "60 per minute"}``), or the ``RATELIMIT_DEFAULT_PLAN``'s while the plan is not yet
  known to this process;
- the doors of ``app.doors`` (failed authentications and sign-up/login per address, Bearer calls
  per user), with the ``limited`` decorator or ``count`` itself.

Storage is ``memory://`` (one process) or ``redis://...`` when several processes serve. If the
storage is down, requests are NOT refused: limits are counted in process memory for
``STORAGE_RETRY`` seconds, then the storage is tried again; the error is logged.
``RATELIMIT_ENABLED=false`` turns every limit off.

This is the ``limits`` library used directly rather than through flask-limiter: flask-limiter's
per-request machinery (resolving each view's limits, exemption scopes and meta limits through
Flask's context locals, plus its before-request, after-request and teardown hooks on every
request) was about 30 % of the CPU of a ``GET /v1/credits/balance`` (``bench/README.md``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from limits.util import WindowStats

from app.config import ConfigError
from app.errors import RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds the in-memory fallback is used after a storage error before the storage is retried.
STORAGE_RETRY = 30.0
KEY_PREFIX = "creatorscrape"
API_KEY_SCOPE = "api_key"


@dataclass
class Counters:
    """An app's rate-limit counters: the strategy on the configured storage, the in-memory one
    used while that storage is down, and until when (``time.monotonic()``)."""

    storage: RateLimiter
    memory: RateLimiter = field(default_factory=lambda: FixedWindowRateLimiter(MemoryStorage()))
    down_until: float = 0.0

    def call(self, fn: Callable[[RateLimiter], T]) -> T:
        """``fn(strategy)`` on the storage; if that raises, the storage is taken as down for
        ``STORAGE_RETRY`` seconds (logged) and ``fn`` runs on the in-memory strategy."""
        if time.monotonic() >= self.down_until:
            try:
                return fn(self.storage)
            except Exception as exc:
                log.error(
                    "rate-limit storage unavailable, counting in memory for %.0f s: %s",
                    STORAGE_RETRY,
                    type(exc).__name__,
                )
                self.down_until = time.monotonic() + STORAGE_RETRY
        return fn(self.memory)

    def reset(self) -> None:
        """Forget every count (tests)."""
        for strategy in (self.storage, self.memory):
            strategy.storage.reset()
        self.down_until = 0.0


def counters() -> Counters:
    """The current app's counters."""
    return current_app.extensions["rate_limits"]


def count(item: RateLimitItem, who: str, scope: str) -> tuple[bool, WindowStats] | None:
    """Count one call of ``who`` against ``item`` in ``scope`` without refusing it: (within the
    limit, the window after this call), or None when ``RATELIMIT_ENABLED`` is off."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    ids = (KEY_PREFIX, who, scope)
    return counters().call(lambda s: (s.hit(item, *ids), s.get_window_stats(item, *ids)))


def spent(item: RateLimitItem, who: str, scope: str) -> WindowStats | None:
    """The window of ``who`` in ``scope`` if its ``item`` budget is spent (nothing counted),
    else None (also when ``RATELIMIT_ENABLED`` is off)."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    ids = (KEY_PREFIX, who, scope)
    return counters().call(lambda s: None if s.test(item, *ids) else s.get_window_stats(item, *ids))


def enforce(item: RateLimitItem, who: str, scope: str) -> None:
    """Count one call of ``who`` against ``item`` in ``scope`` and remember the
    ``X-RateLimit-*`` headers for the response. Raises 429 ``rate_limited`` (with
    ``Retry-After``, seconds) when the limit is spent."""
    counted = count(item, who, scope)
    if counted is None:
        return
    allowed, window = counted
    reset = int(window.reset_time) + 1
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(reset),
    }
    if not allowed:
        raise RateLimited(headers={"Retry-After": str(retry_after(window))})


def retry_after(window: WindowStats) -> int:
    """Whole seconds until ``window`` resets, rounded up, at least 1: a ``Retry-After``."""
    return max(1, int(window.reset_time - time.time()) + 1)


def limited(setting: str, scope: str, who: Callable[[], str]) -> Callable:
    """Decorator: every call of the view counts against the limit string in the config
    ``setting`` (checked by ``init_app``), per ``who()`` in ``scope``; 429 ``rate_limited``
    when spent (see ``enforce``)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def limited_view(*args: Any, **kwargs: Any) -> Any:
            enforce(current_app.extensions["rate_limit_items"][setting], who(), scope)
            return view(*args, **kwargs)

        return limited_view

    return decorate


def hit_api_key_limit(key_hash: str, plan: str | None) -> None:
    """The per-key limit of an ``x-api-key`` call: the limit of ``plan`` (the default plan's for
    None or a plan without one) for the key's hash. 429 ``rate_limited`` when spent."""
    plans = current_app.extensions["plan_limits"]
    item = plans.get(plan) or plans[current_app.config["RATELIMIT_DEFAULT_PLAN"]]
    enforce(item, key_hash, API_KEY_SCOPE)


def _add_headers(response: Response) -> Response:
    headers = g.get("rate_limit_headers")
    if headers:
        response.headers.update(headers)
    return response


def parse_limit(setting: str, value: str) -> RateLimitItem:
    """``value`` parsed, or ``ConfigError`` naming ``setting``."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"{setting} must be a rate limit like '20 per minute'") from exc


def init_app(app: Flask, settings: tuple[str, ...] = ()) -> None:
    """Open the counters on ``RATELIMIT_STORAGE_URI`` and parse the plan limits and the limit
    ``settings`` (``ConfigError`` when one is malformed, or when the default plan has none)."""
    plans = {
        plan: parse_limit("RATELIMIT_PLAN_LIMITS", value)
        for plan, value in app.config["RATELIMIT_PLAN_LIMITS"].items()
    }
    if app.config["RATELIMIT_DEFAULT_PLAN"] not in plans:
        raise ConfigError("RATELIMIT_DEFAULT_PLAN must be a plan of RATELIMIT_PLAN_LIMITS")
    app.extensions["plan_limits"] = plans
    app.extensions["rate_limit_items"] = {s: parse_limit(s, app.config[s]) for s in settings}
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions["rate_limits"] = Counters(storage=FixedWindowRateLimiter(storage))
    app.after_request(_add_headers)
