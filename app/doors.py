"""Rate limits on the doors that are not an API key's own calls (flask-limiter, same storage as
``app.limits``):

- **Failed authentication, per client address** (``RATELIMIT_AUTH_FAILURES``, default 20 per
  minute): every 401 ``invalid_api_key`` / ``invalid_token`` counts one against the address.
  Once it is spent, the address gets 429 ``rate_limited`` (``Retry-After``) for API keys this
  process has not seen succeed recently, before any database call, and for invalid Bearer
  tokens, until the window ends. A valid key's calls never count, and a key seen succeeding is
  never refused for its address's failures.
- **Bearer (dashboard) calls, per user** (``RATELIMIT_BEARER``, default 120 per minute), with
  ``X-RateLimit-*`` headers like the API-key limit.
- **Sign-up, login and refresh, per client address** (``RATELIMIT_AUTH_ENDPOINTS``, default 10
  per minute), on top of Supabase Auth's own limits.

The client address is ``request.remote_addr`` after Werkzeug's ``ProxyFix`` trusts
``TRUSTED_PROXIES`` proxies (``X-Forwarded-For`` hops; default 0: the socket's peer address, and
forwarded headers are ignored).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import ConfigError
from app.errors import RateLimited
from app.limits import limiter, on_storage

log = logging.getLogger(__name__)

_FAILURES = "auth_failures"
_LIMIT_SETTINGS = ("RATELIMIT_AUTH_FAILURES", "RATELIMIT_BEARER", "RATELIMIT_AUTH_ENDPOINTS")


def client_address() -> str:
    """The caller's address (after ``ProxyFix``), the key of the per-address limits."""
    return request.remote_addr or "unknown"


def _failure_item() -> RateLimitItem:
    return current_app.extensions["doors_failure_limit"]


def _refuse(item: RateLimitItem, address: str) -> RateLimited:
    reset = on_storage(lambda s: s.get_window_stats(item, _FAILURES, address)).reset_time
    retry_after = max(1, int(reset - time.time()) + 1)
    return RateLimited(
        "Too many failed authentications from this address; wait before retrying.",
        details={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def check_address() -> None:
    """Before an unproven credential costs a database call: 429 ``rate_limited`` when this
    address has spent its failed-authentication budget."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    item, address = _failure_item(), client_address()
    if not on_storage(lambda s: s.test(item, _FAILURES, address)):
        raise _refuse(item, address)


def count_failure() -> None:
    """Count one failed authentication against the address; call it where the 401 is about to
    be raised. Raises 429 ``rate_limited`` instead when the budget is spent."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    item, address = _failure_item(), client_address()
    if not on_storage(lambda s: s.hit(item, _FAILURES, address)):
        raise _refuse(item, address) from None


def _bearer_key() -> str:
    bearer = g.get("bearer")
    return f"user:{bearer.user_id}" if bearer is not None else f"addr:{client_address()}"


def _address_key() -> str:
    return f"addr:{client_address()}"


#: Per-user limit of the dashboard (Bearer) endpoints; applied by ``bearer_required``.
bearer_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_BEARER"], scope="bearer", key_func=_bearer_key
)

#: Per-address limit of sign-up, login and refresh (decorate those views).
auth_endpoint_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_AUTH_ENDPOINTS"],
    scope="auth_endpoints",
    key_func=_address_key,
)


def init_app(app: Flask) -> None:
    """Check the limit strings (``ConfigError`` when malformed) and trust ``TRUSTED_PROXIES``
    proxies for the client address."""
    for name in _LIMIT_SETTINGS:
        try:
            parsed = parse(app.config[name])
        except ValueError as exc:
            raise ConfigError(f"{name} must be a rate limit like '20 per minute'") from exc
        if name == "RATELIMIT_AUTH_FAILURES":
            app.extensions["doors_failure_limit"] = parsed
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
