"""Settings: the only place that reads the environment.

``load_config(environ)`` turns environment variables into a flat dict of typed Flask config
values and fails fast (``ConfigError``) on bad ones; ``create_app(overrides)`` lays test or
deployment overrides on top. Every variable is listed, with its default, in ``.env.example``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A setting is present but malformed; raised at start-up, never at request time."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def _json_dict(env: Mapping[str, str], name: str, default: dict[str, Any]) -> dict[str, Any]:
    raw = env.get(name)
    if raw is None or raw == "":
        return dict(default)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def _url(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "")
    if raw and not raw.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw


def _secret(env: Mapping[str, str], name: str, prefixes: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip()
    if raw and not raw.startswith(prefixes):
        raise ConfigError(f"{name} must start with {' or '.join(prefixes)}")
    return raw


DEFAULT_PLAN_RATE_LIMITS = {
    "free": "60 per minute",
    "starter": "300 per minute",
    "pro": "1200 per minute",
}


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from ``environ`` (default ``os.environ``).

    Returns a dict of Flask config keys. Raises ``ConfigError`` on malformed values.
    """
    env = os.environ if environ is None else environ
    return {
        "SECRET_KEY": env.get("SECRET_KEY", ""),
        # Database: a URL (Supabase pooler in production) or, when empty, the embedded server.
        "DATABASE_URL": env.get("DATABASE_URL", ""),
        "EMBEDDED_PG_DIR": env.get("EMBEDDED_PG_DIR", ".data/postgres"),
        "DB_POOL_MIN_SIZE": _int(env, "DB_POOL_MIN_SIZE", 1, minimum=0),
        "DB_POOL_MAX_SIZE": _int(env, "DB_POOL_MAX_SIZE", 10, minimum=1),
        "DB_POOL_TIMEOUT": _float(env, "DB_POOL_TIMEOUT", 10.0),
        # seconds a pooled connection may idle before it is pinged on checkout (0: always ping)
        "DB_POOL_CHECK_IDLE": _int(env, "DB_POOL_CHECK_IDLE", 10),
        "DB_STATEMENT_TIMEOUT_MS": _int(env, "DB_STATEMENT_TIMEOUT_MS", 15000, minimum=0),
        # Requests
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1_000_000, minimum=1024),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # Rate limits (app.limits): counter storage URI and a limit string per plan.
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_PLAN_LIMITS": _json_dict(env, "RATELIMIT_PLAN_LIMITS", DEFAULT_PLAN_RATE_LIMITS),
        "RATELIMIT_DEFAULT_PLAN": env.get("RATELIMIT_DEFAULT_PLAN", "free"),
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        # Other doors (app.doors): failed authentications per client address, Bearer calls per
        # user, sign-up/login/refresh per client address; proxies trusted for the address.
        "RATELIMIT_AUTH_FAILURES": env.get("RATELIMIT_AUTH_FAILURES", "20 per minute"),
        "RATELIMIT_BEARER": env.get("RATELIMIT_BEARER", "120 per minute"),
        "RATELIMIT_AUTH_ENDPOINTS": env.get("RATELIMIT_AUTH_ENDPOINTS", "10 per minute"),
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        # Supabase (Auth proxy, JWT verification, admin user creation).
        "SUPABASE_URL": env.get("SUPABASE_URL", ""),
        "SUPABASE_ANON_KEY": env.get("SUPABASE_ANON_KEY", ""),
        "SUPABASE_SERVICE_ROLE_KEY": env.get("SUPABASE_SERVICE_ROLE_KEY", ""),
        "SUPABASE_JWT_SECRET": env.get("SUPABASE_JWT_SECRET", ""),
        # -- accounts: auth proxy and API-key management --
        # seconds for one call to Supabase Auth (signup, login, refresh, logout)
        "AUTH_HTTP_TIMEOUT": _float(env, "AUTH_HTTP_TIMEOUT", 10.0),
        "MAX_ACTIVE_KEYS_PER_USER": _int(env, "MAX_ACTIVE_KEYS_PER_USER", 10, minimum=1),
        # seconds a rotated key keeps working after /v1/keys/rotate (0: revoked at once)
        "KEY_ROTATION_GRACE_SECONDS": _int(env, "KEY_ROTATION_GRACE_SECONDS", 86400),
        # -- billing: Stripe --
        # Empty STRIPE_SECRET_KEY (or checkout URLs): checkout and portal answer 503
        # billing_unavailable; empty STRIPE_WEBHOOK_SECRET: the webhook does.
        "STRIPE_SECRET_KEY": _secret(env, "STRIPE_SECRET_KEY", ("sk_", "rk_")),
        "STRIPE_WEBHOOK_SECRET": _secret(env, "STRIPE_WEBHOOK_SECRET", ("whsec_",)),
        # seconds a webhook's signed timestamp may be old (replay protection)
        "STRIPE_WEBHOOK_TOLERANCE": _int(env, "STRIPE_WEBHOOK_TOLERANCE", 300, minimum=1),
        # TEST-ONLY: base URL of a local fake of Stripe's API. Empty in production.
        "STRIPE_API_BASE": _url(env, "STRIPE_API_BASE"),
        "STRIPE_API_TIMEOUT": _float(env, "STRIPE_API_TIMEOUT", 20.0),
        "CHECKOUT_SUCCESS_URL": _url(env, "CHECKOUT_SUCCESS_URL"),
        "CHECKOUT_CANCEL_URL": _url(env, "CHECKOUT_CANCEL_URL"),
        "PORTAL_RETURN_URL": _url(env, "PORTAL_RETURN_URL"),
        # -- scraping: fetcher, profile endpoint, cache --
        "FETCH_CONNECT_TIMEOUT": _float(env, "FETCH_CONNECT_TIMEOUT", 5.0),
        "FETCH_READ_TIMEOUT": _float(env, "FETCH_READ_TIMEOUT", 10.0),
        "FETCH_DEADLINE": _float(env, "FETCH_DEADLINE", 20.0),
        "FETCH_MAX_BYTES": _int(env, "FETCH_MAX_BYTES", 5_000_000, minimum=1024),
        "FETCH_MAX_REDIRECTS": _int(env, "FETCH_MAX_REDIRECTS", 5),
        "FETCH_RETRIES": _int(env, "FETCH_RETRIES", 2),
        # TEST-ONLY: lets the fetcher reach 127.0.0.1 (local fixture servers). Never in production.
        "FETCH_ALLOW_LOOPBACK": _bool(env, "FETCH_ALLOW_LOOPBACK", False),
        # -- sources: official API credentials (empty: that source is skipped) --
        "YOUTUBE_API_KEY": env.get("YOUTUBE_API_KEY", "").strip(),
        "TWITCH_CLIENT_ID": env.get("TWITCH_CLIENT_ID", "").strip(),
        "TWITCH_CLIENT_SECRET": env.get("TWITCH_CLIENT_SECRET", "").strip(),
        "X_BEARER_TOKEN": env.get("X_BEARER_TOKEN", "").strip(),
        "PROFILE_CACHE_TTL": _int(env, "PROFILE_CACHE_TTL", 86400),
        "PROFILE_COST": _int(env, "PROFILE_COST", 1, minimum=1),
        "PROFILE_CACHE_HIT_COST": _int(env, "PROFILE_CACHE_HIT_COST", 1),
        "IDEMPOTENCY_TTL": _int(env, "IDEMPOTENCY_TTL", 86400, minimum=60),
        # -- posts and growth history (issue 12) --
        "POSTS_COST": _int(env, "POSTS_COST", 2, minimum=1),
        "POSTS_CACHE_TTL": _int(env, "POSTS_CACHE_TTL", 21600),
        "HISTORY_COST": _int(env, "HISTORY_COST", 1, minimum=1),
        # A paid lookup not settled FETCH_DEADLINE + this many seconds after its charge is an
        # orphan (its process died) and is refunded by the sweep.
        "LOOKUP_ORPHAN_GRACE": _int(env, "LOOKUP_ORPHAN_GRACE", 60, minimum=1),
        # -- jobs: batch lookups --
        "JOBS_MAX_URLS": _int(env, "JOBS_MAX_URLS", 1000, minimum=1),
        # Workers need LISTEN/NOTIFY: a direct or session-mode URL (empty: DATABASE_URL).
        "JOBS_DATABASE_URL": env.get("JOBS_DATABASE_URL", ""),
        "JOBS_WORKER_CONCURRENCY": _int(env, "JOBS_WORKER_CONCURRENCY", 8, minimum=1),
        "JOBS_POLL_INTERVAL": _float(env, "JOBS_POLL_INTERVAL", 1.0),
        "JOBS_HEARTBEAT_INTERVAL": _float(env, "JOBS_HEARTBEAT_INTERVAL", 10.0),
        "JOBS_STALLED_TIMEOUT": _float(env, "JOBS_STALLED_TIMEOUT", 30.0),
        "JOBS_STALLED_CHECK_INTERVAL": _float(env, "JOBS_STALLED_CHECK_INTERVAL", 15.0),
        "JOBS_MAX_ATTEMPTS": _int(env, "JOBS_MAX_ATTEMPTS", 5, minimum=1),
        "JOBS_HOST_CONCURRENCY": _int(env, "JOBS_HOST_CONCURRENCY", 4, minimum=0),
        "JOBS_HOST_SPACING_MS": _int(env, "JOBS_HOST_SPACING_MS", 250, minimum=0),
        "JOBS_RETRY_AFTER_DEFAULT": _int(env, "JOBS_RETRY_AFTER_DEFAULT", 30, minimum=1),
        "JOBS_RETRY_AFTER_MAX": _int(env, "JOBS_RETRY_AFTER_MAX", 3600, minimum=1),
        "JOBS_WEBHOOK_MAX_ATTEMPTS": _int(env, "JOBS_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
        "JOBS_WEBHOOK_BACKOFF": _float(env, "JOBS_WEBHOOK_BACKOFF", 5.0),
        "JOBS_WEBHOOK_TIMEOUT": _float(env, "JOBS_WEBHOOK_TIMEOUT", 10.0),
    }
