"""Per-plan rate limits (flask-limiter), keyed by the validated API key's hash.

Every ``x-api-key`` endpoint shares one limit per key (scope ``api_key``): the limit string
of the key's plan from ``RATELIMIT_PLAN_LIMITS`` (e.g. ``{"free": "60 per minute"}``), or the
``RATELIMIT_DEFAULT_PLAN``'s while the plan is not yet known to this process. Responses carry
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch seconds); a 429
``rate_limited`` also carries ``Retry-After`` (seconds).

Storage is ``RATELIMIT_STORAGE_URI``: ``memory://`` (one process) or ``redis://...`` when
several processes serve. If the storage is down, requests are NOT refused: the limiter counts
in process memory until the storage answers again (``in_memory_fallback``), and logs the error.

Every limit is a decorator, checked when its view runs. flask-limiter's own before-request pass
(which looks for app-wide limits: ``RATELIMIT_DEFAULT``, ``RATELIMIT_APPLICATION``,
``RATELIMIT_META``) is removed while none of those is set; it found nothing to check and cost
about a tenth of a ``GET /v1/credits/balance``.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_limiter import Limiter
from flask_limiter.constants import ConfigVars


def _rate_limit_key() -> str:
    return g.get("api_key_hash") or "anonymous"


def _plan_limit() -> str:
    plans = current_app.config["RATELIMIT_PLAN_LIMITS"]
    plan = g.get("rate_plan") or current_app.config["RATELIMIT_DEFAULT_PLAN"]
    return plans.get(plan) or plans[current_app.config["RATELIMIT_DEFAULT_PLAN"]]


limiter = Limiter(key_func=_rate_limit_key, headers_enabled=True, swallow_errors=True)

#: The shared per-key limit applied by ``app.security.api_key_required``.
api_key_limit = limiter.shared_limit(_plan_limit, scope="api_key", key_func=_rate_limit_key)


def init_app(app: Flask) -> None:
    """Bind the limiter to ``app`` with the configured storage and memory fallback; drop its
    before-request pass when no app-wide limit is configured (see the module docstring)."""
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "creatorscrape")
    limiter.init_app(app)
    app_wide = (ConfigVars.DEFAULT_LIMITS, ConfigVars.APPLICATION_LIMITS, ConfigVars.META_LIMITS)
    hooks = app.before_request_funcs[None]
    if limiter._check_request_limit in hooks and not any(app.config.get(n) for n in app_wide):
        hooks.remove(limiter._check_request_limit)  # flask-limiter adds it on the first bind
