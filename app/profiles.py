"""Creator profile lookups: cache, fetch, extract. Shared by the API and the job workers.

No Flask request state here; callers pass the settings (``fetch_settings(app.config)``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg

from app.queries import profiles as queries
from app.scraping.fetch import FetchSettings
from app.scraping.sources import lookup
from app.scraping.sources.base import Credentials, LookupSettings
from app.scraping.urls import CreatorRef, identify, origin


@dataclass(frozen=True)
class ProfileResult:
    """A profile as the API returns it: ``data`` (CreatorProfile JSON), when it was fetched,
    and whether it came from the cache."""

    data: dict[str, Any]
    fetched_at: datetime
    cached: bool


def fetch_settings(config: Mapping[str, Any]) -> LookupSettings:
    """The fetcher's bounds (``FETCH_*``) and the sources' API credentials from the app config.

    ``FETCH_RESOLVER`` (tests only, never from the environment) replaces DNS with a function
    ``(host, port) -> [addresses]`` so saved pages can be served under their real host names;
    ``FETCH_CA_BUNDLE`` (tests only, never from the environment) is a PEM file of extra CAs
    the fetcher trusts, so a local TLS server can answer for ``https://`` API hosts.
    """
    extra: dict[str, Any] = {}
    if config.get("FETCH_RESOLVER"):
        extra["resolver"] = config["FETCH_RESOLVER"]
    if config.get("FETCH_CA_BUNDLE"):
        extra["ca_bundle"] = config["FETCH_CA_BUNDLE"]
    return LookupSettings(
        **extra,
        credentials=Credentials(
            youtube_api_key=config.get("YOUTUBE_API_KEY", ""),
            twitch_client_id=config.get("TWITCH_CLIENT_ID", ""),
            twitch_client_secret=config.get("TWITCH_CLIENT_SECRET", ""),
            x_bearer_token=config.get("X_BEARER_TOKEN", ""),
        ),
        connect_timeout=config["FETCH_CONNECT_TIMEOUT"],
        read_timeout=config["FETCH_READ_TIMEOUT"],
        deadline=config["FETCH_DEADLINE"],
        max_bytes=config["FETCH_MAX_BYTES"],
        max_redirects=config["FETCH_MAX_REDIRECTS"],
        retries=config["FETCH_RETRIES"],
        allow_loopback=config["FETCH_ALLOW_LOOPBACK"],
    )


def cached(conn: psycopg.Connection, ref: CreatorRef, max_age: int) -> ProfileResult | None:
    """The cached profile for ``ref`` if at most ``max_age`` seconds old, else None."""
    if max_age <= 0:
        return None
    row = queries.get_fresh(conn, ref.platform, ref.handle, max_age)
    if row is None:
        return None
    return ProfileResult(row["data"], row["fetched_at"], cached=True)


def scrape(url: str, settings: FetchSettings) -> ProfileResult:
    """Look up the profile at ``url`` through its platform's sources (no database access).

    ``settings`` is ``fetch_settings(config)`` (credentials included) or plain fetcher
    settings (then only the sources without credentials run). One ``deadline`` covers every
    source tried. Raises, when no source gave a profile: 400 ``url_not_allowed``, 404
    ``creator_not_found`` (a source said the account does not exist), 502 ``upstream_blocked``
    (every source refused: login wall, captcha, rate limit, empty page), 502
    ``upstream_error``, 504 ``upstream_timeout``; ``details.sources`` lists each source's
    failure.
    """
    profile = lookup(url, settings)
    return ProfileResult(profile.to_dict(), datetime.now(UTC), cached=False)


def canonical_profile_url(url: str) -> str:
    """``url`` as a cached profile may carry it: scheme and host lower-cased, the default port
    dropped, and never credentials, a query string or a fragment (they belong to one caller)."""
    return origin(url) + (urlsplit(url).path or "/")


def shareable(url: str, result: ProfileResult) -> ProfileResult:
    """``result`` with its ``profile_url`` made canonical (``canonical_profile_url`` of the
    extracted URL, else of the requested ``url``): what is cached and returned."""
    profile_url = canonical_profile_url(result.data.get("profile_url") or url)
    return dataclasses.replace(result, data={**result.data, "profile_url": profile_url})


def store(conn: psycopg.Connection, url: str, result: ProfileResult) -> None:
    """Cache ``result`` (made ``shareable``) under the identity of the requested ``url``, as a
    new snapshot (batch jobs; the single-profile endpoint settles its lookup instead)."""
    ref = identify(url)
    result = shareable(url, result)
    queries.put(
        conn, ref.platform, ref.handle, result.data["profile_url"], result.data, result.fetched_at
    )


def orphan_after(config: Mapping[str, Any]) -> int:
    """Seconds after which an unsettled lookup charge is an orphan: ``FETCH_DEADLINE`` (rounded
    up) + ``LOOKUP_ORPHAN_GRACE``. No live request is still fetching by then."""
    return math.ceil(config["FETCH_DEADLINE"]) + config["LOOKUP_ORPHAN_GRACE"]


@dataclass(frozen=True)
class Lookup:
    """A charged lookup (``begin_lookup``): the charge's row (``user_id``, ``api_key_id``,
    ``plan``, ``balance``, ``credits_charged``) and the cached profile on a hit (else None)."""

    charge: dict[str, Any]
    hit: ProfileResult | None


def begin_lookup(
    conn: psycopg.Connection,
    ref: CreatorRef,
    *,
    key_hash: str,
    request_id: str,
    max_age: int,
    hit_cost: int,
    miss_cost: int,
) -> Lookup:
    """Read the cache and charge the key in one database round trip (``max_age`` seconds,
    costs in credits; ``request_id`` is the ledger ref). A miss stays pending until
    ``settle_lookup`` or ``refund_lookup`` (or the orphan sweep). Raises 401
    ``invalid_api_key``, 402 ``insufficient_credits``, 403 ``account_suspended``."""
    row = queries.begin_lookup(
        conn,
        key_hash=key_hash,
        request_id=request_id,
        platform=ref.platform,
        handle=ref.handle,
        max_age=max_age,
        hit_cost=hit_cost,
        miss_cost=miss_cost,
    )
    hit = ProfileResult(row["data"], row["fetched_at"], cached=True) if row["cached"] else None
    return Lookup(charge=row, hit=hit)


def settle_lookup(
    conn: psycopg.Connection, ref: CreatorRef, request_id: str, result: ProfileResult
) -> bool:
    """Store the fetched ``result`` (already ``shareable``) and mark the lookup paid, in one
    transaction. False when its charge was refunded meanwhile (the request outlived the orphan
    deadline): the caller must not return the profile as paid."""
    return queries.settle_lookup(
        conn,
        request_id=request_id,
        platform=ref.platform,
        handle=ref.handle,
        profile_url=result.data["profile_url"],
        data=result.data,
        fetched_at=result.fetched_at,
    )


def refund_lookup(conn: psycopg.Connection, request_id: str) -> bool:
    """Refund a pending lookup's charge, exactly once. True when this call refunded it."""
    return queries.refund_lookup(conn, request_id)


def sweep_orphans(conn: psycopg.Connection, config: Mapping[str, Any], limit: int = 500) -> int:
    """Refund every lookup charge left unsettled longer than ``orphan_after(config)`` seconds,
    in batches of ``limit``. Returns how many were refunded."""
    total = 0
    while True:
        refunded = queries.sweep_orphans(conn, orphan_after(config), limit)
        total += refunded
        if refunded < limit:
            return total
