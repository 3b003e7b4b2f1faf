"""The JSON Instagram's own website loads for a profile page (source ``instagram_web``).

Endpoint: ``GET https://www.instagram.com/api/v1/users/web_profile_info/?username=<username>``
with the website's public app id (``X-IG-App-ID: 936619743392459``), no credentials. The answer
is ``{"data": {"user": {...}}, "status": "ok"}``:

- platform_user_id: ``id``; handle: ``username``; display_name: ``full_name``;
- bio: ``biography``; avatar_url: ``profile_pic_url_hd`` (else ``profile_pic_url``);
- followers / following / posts: ``edge_followed_by.count`` / ``edge_follow.count`` /
  ``edge_owner_to_timeline_media.count``, exact (the page's meta tags only round them);
- verified: ``is_verified``; is_business_account: ``is_business_account``;
- category: ``category_name`` (else ``business_category_name``);
- external_links: ``external_url``, then ``bio_links[].url``, then URLs written in the bio;
- emails: ``business_email``, then addresses written in the bio.

A ``"user": null`` answer or a 404 means no such account. Instagram sends many datacenter
clients to its login wall: a redirect to ``/accounts/login`` or a 401/403, and ``{"status":
"fail", "require_login": true}`` or 429 ("Please wait a few minutes"), are refusals and rate
limits, and the chain goes on to the page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from app.scraping.extractors.base import find_emails, find_urls
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

NAME = "instagram_web"
ENDPOINT = "https://www.instagram.com/api/v1/users/web_profile_info/"
APP_ID = "936619743392459"  # instagram.com's web app id, sent by every browser visiting it
_RESERVED = {"p", "reel", "reels", "explore", "accounts", "stories", "tv", "direct", "about"}


def username_of(target: Target) -> str | None:
    """The username an ``instagram.com/<username>/`` URL names (None for other pages). Pure."""
    if not target.segments:
        return None
    name = target.segments[0].lstrip("@")
    if name.lower() in _RESERVED or not name.replace("_", "").replace(".", "").isalnum():
        return None
    return name


def request_url(username: str) -> str:
    """The web_profile_info URL for ``username`` (pure)."""
    return f"{ENDPOINT}?{urlencode({'username': username})}"


def error_of(response: FetchedResponse) -> SourceFailed:
    """The failure an error answer means (pure)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and body.get("require_login"):
        kind = Kind.RATE_LIMITED if response.status == 429 else Kind.REFUSED
        return SourceFailed(kind, "login_required")
    return status_failure(response.status)


def _count(user: dict[str, Any], edge: str) -> Any:
    value = user.get(edge)
    return value.get("count") if isinstance(value, dict) else None


def parse(body: Any) -> CreatorProfile:
    """A web_profile_info answer as a profile (pure)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        if isinstance(body, dict) and body.get("require_login"):
            raise SourceFailed(Kind.REFUSED, "login_required")
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    user = body["data"].get("user")
    if not isinstance(user, dict):
        raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
    profile = builder("instagram")
    profile.set("platform_user_id", user.get("id"), NAME)
    profile.set("handle", user.get("username"), NAME)
    profile.set("display_name", user.get("full_name"), NAME)
    profile.set("bio", user.get("biography"), NAME)
    profile.set("avatar_url", user.get("profile_pic_url_hd") or user.get("profile_pic_url"), NAME)
    profile.set_count("followers", _count(user, "edge_followed_by"), NAME)
    profile.set_count("following", _count(user, "edge_follow"), NAME)
    profile.set_count("posts", _count(user, "edge_owner_to_timeline_media"), NAME)
    profile.set("verified", user.get("is_verified"), NAME)
    profile.set("is_business_account", user.get("is_business_account"), NAME)
    profile.set("category", user.get("category_name") or user.get("business_category_name"), NAME)
    bio_links = [link.get("url") for link in user.get("bio_links") or [] if isinstance(link, dict)]
    profile.add_links([user.get("external_url"), *bio_links], NAME)
    profile.add_links(find_urls(profile.get("bio")), NAME)
    profile.add_emails([user.get("business_email")], NAME)
    profile.add_emails(find_emails(profile.get("bio")), NAME)
    handle = profile.get("handle")
    return finish(profile, f"https://www.instagram.com/{handle}/" if handle else None, NAME)


class InstagramWeb(Source):
    """The website's own profile JSON (no credentials)."""

    name = NAME
    platform = "instagram"
    endpoint = f"GET {ENDPOINT}?username=<username>"
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
        "is_business_account": "exact",
        "category": "exact",
        "external_links": "exact",
        "emails": "exact",
    }

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """web_profile_info for the URL's username; raises ``SourceFailed``."""
        username = username_of(target)
        if username is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_profile_url")
        response = client.request(
            request_url(username),
            headers={"X-IG-App-ID": APP_ID, "Referer": f"https://www.instagram.com/{username}/"},
        )
        if response.status != 200:
            raise error_of(response)
        return parse(json_body(response))
