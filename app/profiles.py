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
from app.scraping import extract_profile
from app.scraping.fetch import FetchSettings, UpstreamBlocked, fetch_page
from app.scraping.urls import CreatorRef, identify


@dataclass(frozen=True)
class ProfileResult:
    """A profile as the API returns it: ``data`` (CreatorProfile JSON), when it was fetched,
    and whether it came from the cache."""

    data: dict[str, Any]
    fetched_at: datetime
    cached: bool


def fetch_settings(config: Mapping[str, Any]) -> FetchSettings:
    """The fetcher's bounds from the app config (``FETCH_*`` settings).

    ``FETCH_RESOLVER`` (tests only, never from the environment) replaces DNS with a function
    ``(host, port) -> [addresses]`` so saved pages can be served under their real host names.
    """
    extra = {"resolver": config["FETCH_RESOLVER"]} if config.get("FETCH_RESOLVER") else {}
    return FetchSettings(
        **extra,
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
    """Fetch ``url`` and extract its profile (no database access).

    Raises the fetcher's errors (400 ``url_not_allowed``, 404 ``creator_not_found``, 502
    ``upstream_blocked`` / ``upstream_error``, 504 ``upstream_timeout``), and 502
    ``upstream_blocked`` when the page holds no profile data (login wall, empty shell).
    """
    page = fetch_page(url, settings)
    profile = extract_profile(page.url, page.html)
    if not profile.has_data():
        raise UpstreamBlocked(
            "The page had no profile data (login wall, captcha or an empty app shell).",
            details={"reason": "empty_page"},
        )
    return ProfileResult(profile.to_dict(), datetime.now(UTC), cached=False)


def store(conn: psycopg.Connection, url: str, result: ProfileResult) -> None:
    """Cache ``result`` under the platform and handle of the requested ``url``."""
    ref = identify(url)
    profile_url = result.data.get("profile_url") or url
    queries.put(conn, ref.platform, ref.handle, profile_url, result.data, result.fetched_at)
