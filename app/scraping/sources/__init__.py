"""Where a lookup gets its data: per platform, an ordered chain of sources.

``lookup(url, settings)`` is the only entry point the API and the job workers use. Each
platform's sources are listed in :data:`CHAINS`, official and public APIs first, the page last;
``catalogue(credentials)`` describes them for ``GET /v1/creators/platforms``. The chain itself
(order, fall-through, merge, the final error) is in :mod:`app.scraping.sources.chain`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from app.scraping.fetch import FetchSettings
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import Credentials, LookupSettings, Source, Target
from app.scraping.sources.bluesky_api import BlueskyApi
from app.scraping.sources.chain import run_chain
from app.scraping.sources.page import PageSource
from app.scraping.sources.youtube_data_api import YouTubeDataApi
from app.scraping.urls import identify

__all__ = ["CHAINS", "Credentials", "LookupSettings", "catalogue", "lookup", "sources_for"]

#: platform -> its sources, in the order they are tried.
CHAINS: dict[str, tuple[Source, ...]] = {
    "bluesky": (BlueskyApi(), PageSource("bluesky")),
    "youtube": (YouTubeDataApi(), PageSource("youtube")),
    "twitch": (PageSource("twitch"),),
    "x": (PageSource("x"),),
    "instagram": (PageSource("instagram"),),
    "tiktok": (PageSource("tiktok"),),
    "mastodon": (PageSource("mastodon"),),
    "telegram": (PageSource("telegram"),),
    "substack": (PageSource("substack"),),
    "linktree": (PageSource("linktree"),),
    "web": (PageSource("web"),),
}


def target_of(url: str) -> Target:
    """The lookup target of a (validated) URL: host and path segments, case kept."""
    parts = urlsplit(url)
    return Target(
        url=url,
        host=(parts.hostname or "").lower(),
        segments=tuple(s for s in parts.path.split("/") if s),
    )


def sources_for(url: str) -> tuple[Source, ...]:
    """The chain for ``url``'s platform (the page alone for sites without an API)."""
    return CHAINS.get(identify(url).platform, CHAINS["web"])


def lookup(url: str, settings: FetchSettings) -> CreatorProfile:
    """The creator profile at ``url`` from its platform's sources (see ``chain.run_chain``).

    ``settings`` bound every request; their ``deadline`` covers the whole lookup. With
    :class:`LookupSettings` the credentialed APIs are used too.
    """
    return run_chain(sources_for(url), target_of(url), settings)


def catalogue(credentials: Credentials) -> list[dict[str, Any]]:
    """Every platform with its sources in order: name, endpoint, credentials needed, whether
    active on this server, and the fields each gives (``exact`` or ``rounded``)."""
    return [
        {
            "platform": platform,
            "sources": [
                {
                    "name": source.name,
                    "endpoint": source.endpoint,
                    "credentials": list(source.credentials),
                    "active": source.active(credentials),
                    "fields": dict(source.fields),
                }
                for source in chain
            ],
        }
        for platform, chain in CHAINS.items()
    ]
