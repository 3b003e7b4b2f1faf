"""Creator profile lookups: cache, fetch, extract. Shared by the API and the job workers.

No Flask request state here; callers pass the settings (``fetch_settings(app.config)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from app.queries import profiles as queries
from app.scraping.fetch import FetchSettings
from app.scraping.sources import lookup
from app.scraping.sources.base import Credentials, LookupSettings
from app.scraping.urls import CreatorRef, identify


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


def store(conn: psycopg.Connection, url: str, result: ProfileResult) -> None:
    """Cache ``result`` under the platform and handle of the requested ``url``."""
    ref = identify(url)
    profile_url = result.data.get("profile_url") or url
    queries.put(conn, ref.platform, ref.handle, profile_url, result.data, result.fetched_at)
