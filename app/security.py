"""API keys (format, checksum, hashing) and the view decorators ``api_key_required`` and
``bearer_required``.

Key format (GitHub's token design): ``cs_live_`` + 30 base62 characters from ``secrets``
(178 bits) + 6 base62 characters of the CRC32 of the random part. A leaked key is recognisable
by its prefix, and a malformed or mistyped one is rejected before any database call. Only the
SHA-256 of a key (hex) and its first 12 characters (``prefix``) are stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from uuid import UUID

import psycopg
from flask import g, request

from app import db, doors, limits, tokens
from app.errors import InvalidApiKey, InvalidToken
from app.queries import credits as credit_queries

KEY_PREFIX = "cs_live_"
_RANDOM_LEN = 30
_CHECKSUM_LEN = 6
KEY_LENGTH = len(KEY_PREFIX) + _RANDOM_LEN + _CHECKSUM_LEN
DISPLAY_PREFIX_LEN = 12
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_SET = frozenset(_BASE62)
API_KEY_HEADER = "x-api-key"


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(_BASE62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), _CHECKSUM_LEN)


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: ``plaintext`` is shown once and never stored."""

    plaintext: str
    key_hash: str
    prefix: str


def generate_api_key() -> NewApiKey:
    """A new random key with its SHA-256 hex hash and display prefix."""
    random_part = "".join(secrets.choice(_BASE62) for _ in range(_RANDOM_LEN))
    plaintext = KEY_PREFIX + random_part + _checksum(random_part)
    return NewApiKey(plaintext, hash_api_key(plaintext), plaintext[:DISPLAY_PREFIX_LEN])


def hash_api_key(plaintext: str) -> str:
    """Hex SHA-256 of a key: the only form stored (``private.api_key_hashes.key_hash``)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def is_well_formed(candidate: str) -> bool:
    """True when ``candidate`` has the key format and a correct CRC32 checksum (no I/O)."""
    if len(candidate) != KEY_LENGTH or not candidate.startswith(KEY_PREFIX):
        return False
    body = candidate[len(KEY_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    random_part, checksum = body[:_RANDOM_LEN], body[_RANDOM_LEN:]
    return secrets.compare_digest(_checksum(random_part), checksum)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's owner, the key, the plan, and the balance after any charge.

    ``charged`` is the credits taken by this request, under ledger ref ``ref``.
    """

    user_id: UUID
    api_key_id: UUID
    plan: str
    balance: int
    charged: int
    ref: str


class _PlanCache:
    """Per-process memory of key hash -> plan, so the rate limit can be chosen before the
    database is asked. Entries live ``ttl`` seconds; a plan change shows within that time."""

    def __init__(self, ttl: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, key_hash: str) -> str | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, plan: str) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (plan, time.monotonic() + self.ttl)


plan_cache = _PlanCache()


def presented_key_hash() -> str:
    """Hash of the well-formed key in the ``x-api-key`` header.

    Raises 401 ``invalid_api_key`` when it is missing, malformed or has a bad checksum; the
    database is not consulted for those.
    """
    candidate = request.headers.get(API_KEY_HEADER, "").strip()
    if not is_well_formed(candidate):
        raise InvalidApiKey()
    return hash_api_key(candidate)


def charge(cost: int, conn: psycopg.Connection | None = None) -> Principal:
    """Authenticate the request's key and take ``cost`` credits in one ``spend_credits`` call.

    ``cost = 0`` authenticates only. The ledger ref is the request id. With ``conn``, the call
    joins that connection's transaction (the charge commits or rolls back with it); otherwise a
    pooled connection is borrowed. Stores and returns the ``Principal`` (``g.principal``).
    Errors: 401 ``invalid_api_key``, 402 ``insufficient_credits`` (details ``required``,
    ``balance``, ``shortfall``), 403 ``account_suspended``.
    """
    key_hash = g.api_key_hash
    ref = g.request_id
    if conn is None:
        with db.connection() as borrowed:
            row = credit_queries.spend(borrowed, key_hash, cost, ref)
    else:
        row = credit_queries.spend(conn, key_hash, cost, ref)
    plan_cache.put(key_hash, row["plan"])
    principal = Principal(
        user_id=row["user_id"],
        api_key_id=row["api_key_id"],
        plan=row["plan"],
        balance=row["balance"],
        charged=cost,
        ref=ref,
    )
    g.principal = principal
    return principal


def api_key_required(cost: int | None = 0) -> Callable:
    """Decorator for ``/v1`` views paid or identified with an ``x-api-key``.

    Order per request: the key's format and checksum (401 without a database call); for a key
    not seen succeeding in this process, the client address's failed-authentication budget
    (``app.doors``, 429); the per-plan rate limit keyed by the key's hash (429
    ``rate_limited``); then ``charge(cost)``. Every 401 counts against the address.
    ``cost=None`` leaves charging to the view, which calls ``charge(n)`` once it knows the price.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def authenticated(*args: Any, **kwargs: Any) -> Any:
            try:
                key_hash = presented_key_hash()
                g.api_key_hash = key_hash
                plan = plan_cache.get(key_hash)
                if plan is None:  # a key not seen succeeding here: its address may pay
                    doors.check_address()
                limits.hit_api_key_limit(key_hash, plan)
                if cost is not None:
                    charge(cost)
                return view(*args, **kwargs)
            except InvalidApiKey:
                doors.count_failure()  # raises 429 once the address's budget is spent
                raise

        return authenticated

    return decorate


@dataclass(frozen=True)
class BearerUser:
    """A dashboard caller authenticated by a Supabase access token (``claims`` verified)."""

    user_id: UUID
    claims: dict[str, Any]


def presented_bearer() -> BearerUser:
    """The verified ``Authorization: Bearer`` token of this request.

    Raises 401 ``invalid_token`` when the header is missing, not Bearer, or the token fails
    verification (``app.tokens.verify_access_token``).
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken()
    claims = tokens.verify_access_token(token.strip())
    try:
        user_id = UUID(claims["sub"])
    except ValueError as exc:
        raise InvalidToken() from exc
    return BearerUser(user_id=user_id, claims=claims)


def bearer_required(view: Callable) -> Callable:
    """Decorator for dashboard views: sets ``g.bearer`` (a ``BearerUser``) or raises 401
    ``invalid_token`` (counted against the client address: 429 once its failed-authentication
    budget is spent), then applies the per-user Bearer limit (429 ``rate_limited``, with
    ``X-RateLimit-*`` headers). Queries on the user's behalf run through
    ``app.db.as_user(claims)``."""

    limited = doors.bearer_limit(view)

    @wraps(view)
    def authenticated(*args: Any, **kwargs: Any) -> Any:
        try:
            g.bearer = presented_bearer()
        except InvalidToken:
            doors.count_failure()  # raises 429 once the address's budget is spent
            raise
        return limited(*args, **kwargs)

    return authenticated
