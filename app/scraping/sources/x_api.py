"""X API v2 ``users/by/username`` (source ``x_api``), when ``X_BEARER_TOKEN`` is set.

Endpoint: ``GET https://api.x.com/2/users/by/username/<username>`` with ``user.fields=
public_metrics,description,profile_image_url,url,entities,verified,verified_type,protected``
and ``Authorization: Bearer <app-only token>`` (the token never appears in a URL). The answer
is ``{"data": <User>}`` (``{"data": [<User>, ...]}`` from ``/2/users`` is read the same way):

- platform_user_id: ``id``; handle: ``username``; display_name: ``name``;
- bio: ``description`` with its t.co links replaced by ``entities.description.urls[].expanded_url``;
- avatar_url: ``profile_image_url`` in its 400x400 variant (the API gives the 48x48 ``_normal``);
- followers / following / posts: ``public_metrics.followers_count`` / ``following_count`` /
  ``tweet_count``, exact;
- verified: ``verified`` (or a ``verified_type`` other than ``none``);
- external_links: ``entities.url.urls[].expanded_url`` (the profile website), then the
  expanded links of the description;
- emails: addresses written in the description.

Errors: a 200 whose ``errors[].type`` ends in ``resource-not-found`` means no such account (also
for suspended ones, whose ``title`` is ``Forbidden``: refused); 401/403 (problem documents
``{"title", "detail", "type", "status"}``) are refusals, 429 is rate-limited.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from app.scraping.extractors.base import dig, find_emails
from app.scraping.fetch import FetchedResponse
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    Source,
    SourceFailed,
    Target,
    builder,
    finish,
    json_body,
    status_failure,
)

NAME = "x_api"
ENDPOINT = "https://api.x.com/2/users/by/username/"
USER_FIELDS = (
    "public_metrics,description,profile_image_url,url,entities,verified,verified_type,protected"
)
_RESERVED = {"home", "i", "search", "explore", "settings", "intent", "share", "hashtag"}


def username_of(target: Target) -> str | None:
    """The username an ``x.com/<username>`` URL names (None for other pages). Pure."""
    if not target.segments:
        return None
    name = target.segments[0].lstrip("@")
    if name.lower() in _RESERVED or not name.replace("_", "").isalnum() or len(name) > 15:
        return None
    return name


def request_url(username: str) -> str:
    """The users/by/username URL for ``username`` (pure)."""
    return f"{ENDPOINT}{quote(username)}?{urlencode({'user.fields': USER_FIELDS})}"


def error_of(response: FetchedResponse) -> SourceFailed:
    """The failure a non-2xx X API response means (pure)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    title = body.get("title") if isinstance(body, dict) else None
    reason = str(title).lower().replace(" ", "_") if title else None
    return status_failure(response.status, reason)


def parse(body: Any) -> CreatorProfile:
    """An X API v2 user lookup as a profile (pure)."""
    if not isinstance(body, dict):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    user = body.get("data")
    if isinstance(user, list):
        user = user[0] if user else None
    if not isinstance(user, dict):
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if errors and str(errors[0].get("title")) == "Forbidden":
            raise SourceFailed(Kind.REFUSED, "forbidden")  # e.g. suspended
        if any(str(e.get("type", "")).endswith("resource-not-found") for e in errors):
            raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    profile = builder("x")
    profile.set("platform_user_id", user.get("id"), NAME)
    profile.set("handle", user.get("username"), NAME)
    profile.set("display_name", user.get("name"), NAME)
    description = user.get("description")
    description_urls = dig(user, "entities", "description", "urls") or []
    if isinstance(description, str):
        for item in description_urls:
            if isinstance(item, dict) and item.get("url") and item.get("expanded_url"):
                description = description.replace(item["url"], item["expanded_url"])
    profile.set("bio", description, NAME)
    image = user.get("profile_image_url")
    if isinstance(image, str):
        image = image.replace("_normal.", "_400x400.")
    profile.set("avatar_url", image, NAME)
    metrics = user.get("public_metrics") or {}
    profile.set_count("followers", metrics.get("followers_count"), NAME)
    profile.set_count("following", metrics.get("following_count"), NAME)
    profile.set_count("posts", metrics.get("tweet_count"), NAME)
    verified = user.get("verified")
    if user.get("verified_type") not in (None, "none"):
        verified = True
    profile.set("verified", verified, NAME)
    website = [
        item.get("expanded_url") or item.get("url")
        for item in dig(user, "entities", "url", "urls") or []
        if isinstance(item, dict)
    ]
    profile.add_links(website, NAME)
    profile.add_links(
        [item.get("expanded_url") for item in description_urls if isinstance(item, dict)], NAME
    )
    profile.add_emails(find_emails(profile.get("bio")), NAME)
    handle = profile.get("handle")
    return finish(profile, f"https://x.com/{handle}" if handle else None, NAME)


class XApi(Source):
    """X API v2 user lookup (needs ``X_BEARER_TOKEN``)."""

    name = NAME
    platform = "x"
    endpoint = "GET https://api.x.com/2/users/by/username/<username>"
    credentials = ("X_BEARER_TOKEN",)
    fields = {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
        "following": "exact",
        "posts": "exact",
        "verified": "exact",
        "external_links": "exact",
        "emails": "exact",
    }

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """users/by/username for the URL's username; raises ``SourceFailed``."""
        username = username_of(target)
        if username is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_profile_url")
        response = client.request(
            request_url(username),
            headers={"Authorization": f"Bearer {credentials.x_bearer_token}"},
        )
        if response.status != 200:
            raise error_of(response)
        return parse(json_body(response))
