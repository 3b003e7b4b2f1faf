"""Webhook signatures, the way Stripe signs its webhooks.

Header ``CreatorScrape-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256(key = the job's ``webhook_secret``, message = ``"<t>.<raw body>"``). Receivers
recompute it over the raw body, compare in constant time and refuse old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "CreatorScrape-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE = 300  # seconds


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + 32 URL-safe random characters (192 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``CreatorScrape-Signature`` header value for ``body`` (raw bytes) at ``timestamp``
    (unix seconds, default now)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> bool:
    """True when ``header`` carries a ``v1`` signature of ``body`` by ``secret`` made at most
    ``tolerance`` seconds from ``now``. The reference for the README's receiver snippet."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v for k, v in parts if k.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return False
    t = int(timestamps[0])
    if abs((int(time.time()) if now is None else now) - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, s.strip()) for s in signatures)
