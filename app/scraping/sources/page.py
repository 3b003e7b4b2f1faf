"""The profile page itself, read by the platform's extractor (``app.scraping.extractors``).

Endpoint: the public profile URL (``GET``, HTML). Fields: whatever the page carries (see each
extractor's docstring); they are named ``page:<where>`` in ``sources`` (``page:json-ld``,
``page:og:description``...). A page that holds no profile data (login wall, consent page, app
shell) is ``refused`` (reason ``empty_page``).

YouTube's page is requested in English and past the EU consent interstitial (``hl=en``,
``gl=US``, ``persist_hl``/``persist_gl`` and a ``SOCS``/``CONSENT`` cookie), so counts read in
one language and never from a consent page.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.scraping.extractors import extract_profile
from app.scraping.fetch import FetchFailed, fetch_page
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import (
    Client,
    Credentials,
    FieldQuality,
    Kind,
    Source,
    SourceFailed,
    Target,
    classify,
)

#: What each platform's page gives (the extractors' reading), for the platforms listing.
PAGE_FIELDS: dict[str, dict[str, FieldQuality]] = {
    "youtube": {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "rounded",
        "posts": "rounded",
        "external_links": "exact",
    },
    "tiktok": {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
        "following": "exact",
        "posts": "exact",
        "likes": "exact",
        "verified": "exact",
        "external_links": "exact",
    },
    "instagram": {
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "rounded",
        "following": "rounded",
        "posts": "rounded",
    },
    "x": {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
        "following": "exact",
        "posts": "exact",
        "external_links": "exact",
    },
    "bluesky": {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
        "following": "exact",
        "posts": "exact",
    },
    "twitch": {"handle": "exact", "display_name": "exact", "bio": "exact", "avatar_url": "exact"},
    "mastodon": {"display_name": "exact", "bio": "exact", "avatar_url": "exact"},
    "telegram": {
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
    },
    "substack": {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "publication_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "rounded",
        "external_links": "exact",
    },
    "linktree": {
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "external_links": "exact",
        "emails": "exact",
    },
    "web": {
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "external_links": "exact",
        "emails": "exact",
    },
}

_YOUTUBE_QUERY = {"hl": "en", "gl": "US", "persist_hl": "1", "persist_gl": "1"}
# SOCS=CAI: consent given ("reject all" state), accepted by youtube.com and google.com without a
# redirect to consent.youtube.com; CONSENT=YES+ is the older cookie some edges still read.
_YOUTUBE_CONSENT_COOKIE = "SOCS=CAI; CONSENT=YES+cb"


def page_request(platform: str, url: str) -> tuple[str, dict[str, str]]:
    """The URL and extra headers to request a profile page with (pure).

    YouTube gets the English/US query parameters (added to the URL's own) and the consent
    cookie; other platforms are requested as given.
    """
    if platform != "youtube":
        return url, {}
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(_YOUTUBE_QUERY)
    return urlunsplit(parts._replace(query=urlencode(query))), {"Cookie": _YOUTUBE_CONSENT_COOKIE}


def relabel(profile: CreatorProfile) -> CreatorProfile:
    """The profile with each ``sources`` entry prefixed ``page:`` (pure)."""
    sources = {field: f"page:{where}" for field, where in profile.sources.items()}
    return profile.model_copy(update={"sources": sources})


class PageSource(Source):
    """The public profile page, read by the platform's extractor."""

    name = "page"
    endpoint = "GET <profile URL> (HTML)"

    def __init__(self, platform: str) -> None:
        self.platform = platform  # type: ignore[misc]
        self.fields = PAGE_FIELDS.get(platform, PAGE_FIELDS["web"])  # type: ignore[misc]

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """Fetch and extract the page; raises ``SourceFailed`` (``empty_page`` when the page
        carries no profile data)."""
        url, headers = page_request(self.platform, target.url)
        try:
            page = fetch_page(url, client.bounded(), headers=headers)
        except FetchFailed as err:
            raise classify(err) from err
        profile = extract_profile(page.url, page.html)
        if not profile.has_data():
            raise SourceFailed(Kind.REFUSED, "empty_page")
        return relabel(profile)
