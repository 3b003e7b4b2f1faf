"""Rate limits on the doors that are not an API key's own calls (``app.limits``, same storage):

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

from flask import Flask, current_app, g, request
from limits import RateLimitItem
from limits.util import WindowStats
from werkzeug.middleware.proxy_fix import ProxyFix

from app import limits
from app.errors import RateLimited

FAILURES = "RATELIMIT_AUTH_FAILURES"
BEARER = "RATELIMIT_BEARER"
AUTH_ENDPOINTS = "RATELIMIT_AUTH_ENDPOINTS"
#: The limit settings of this module (parsed and checked by ``app.limits.init_app``).
LIMIT_SETTINGS = (FAILURES, BEARER, AUTH_ENDPOINTS)


def client_address() -> str:
    """The caller's address (after ``ProxyFix``), the key of the per-address limits."""
    return request.remote_addr or "unknown"


def _refuse(window: WindowStats) -> RateLimited:
    retry_after = limits.retry_after(window)
    return RateLimited(
        "Too many failed authentications from this address; wait before retrying.",
        details={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def _failure_limit() -> RateLimitItem:
    return current_app.extensions["rate_limit_items"][FAILURES]


def check_address() -> None:
    """Before an unproven credential costs a database call: 429 ``rate_limited`` when this
    address has spent its failed-authentication budget."""
    window = limits.spent(_failure_limit(), client_address(), "auth_failures")
    if window is not None:
        raise _refuse(window)


def count_failure() -> None:
    """Count one failed authentication against the address; call it where the 401 is about to
    be raised. Raises 429 ``rate_limited`` instead when the budget is spent."""
    counted = limits.count(_failure_limit(), client_address(), "auth_failures")
    if counted is not None and not counted[0]:
        raise _refuse(counted[1]) from None


def _bearer_key() -> str:
    bearer = g.get("bearer")
    return f"user:{bearer.user_id}" if bearer is not None else f"addr:{client_address()}"


def _address_key() -> str:
    return f"addr:{client_address()}"


#: Per-user limit of the dashboard (Bearer) endpoints; applied by ``bearer_required``.
bearer_limit = limits.limited(BEARER, "bearer", _bearer_key)

#: Per-address limit of sign-up, login and refresh (decorate those views).
auth_endpoint_limit = limits.limited(AUTH_ENDPOINTS, "auth_endpoints", _address_key)


def init_app(app: Flask) -> None:
    """Trust ``TRUSTED_PROXIES`` proxies for the client address."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
