"""Bluesky's public AppView: ``app.bsky.actor.getProfile`` (source ``bluesky_api``).

Endpoint: ``GET https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=<handle|DID>``,
no credentials. The answer is ``app.bsky.actor.defs#profileViewDetailed``:

- platform_user_id: ``did``; handle: ``handle``; display_name: ``displayName``;
- bio: ``description``; avatar_url: ``avatar``;
- followers / following / posts: ``followersCount`` / ``followsCount`` / ``postsCount``,
  exact integers;
- verified: ``verification.verifiedStatus`` is ``valid`` (only when the answer has it);
- external_links / emails: URLs and addresses written in the description.

Errors are XRPC bodies ``{"error": "<Name>", "message": "..."}``: 400 ``InvalidRequest``
"Profile not found" (and ``AccountTakedown``, ``AccountDeactivated``) mean no such account.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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
    json_body,
    status_failure,
)

NAME = "bluesky_api"
ENDPOINT = "https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile"
_GONE = {"AccountTakedown", "AccountDeactivated", "AccountSuspended"}


def actor_of(target: Target) -> str | None:
    """The handle or DID a ``bsky.app/profile/<actor>`` URL names."""
    if len(target.segments) >= 2 and target.segments[0] == "profile":
        return target.segments[1]
    return None


def request_url(actor: str) -> str:
    """The getProfile URL for ``actor`` (pure)."""
    return f"{ENDPOINT}?actor={quote(actor, safe=':')}"


def error_of(response: FetchedResponse) -> SourceFailed:
    """The failure an XRPC error response means (pure)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    name = body.get("error") if isinstance(body, dict) else None
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    if response.status == 400 and name in _GONE:
        return SourceFailed(Kind.NOT_FOUND, str(name).lower())
    if response.status == 400 and name == "InvalidRequest" and "not found" in message.lower():
        return SourceFailed(Kind.NOT_FOUND, "profile_not_found")
    if response.status == 400 and name == "InvalidRequest":
        return SourceFailed(Kind.NOT_FOUND, "invalid_actor")
    return status_failure(response.status, f"{name}" if name else None)


def parse(body: Any) -> CreatorProfile:
    """A ``profileViewDetailed`` as a profile (pure); a body without a DID is ``broken``."""
    if not isinstance(body, dict) or not isinstance(body.get("did"), str):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    profile = builder("bluesky")
    profile.set("platform_user_id", body.get("did"), NAME)
    profile.set("handle", body.get("handle"), NAME)
    profile.set("display_name", body.get("displayName"), NAME)
    profile.set("bio", body.get("description"), NAME)
    profile.set("avatar_url", body.get("avatar"), NAME)
    profile.set_count("followers", body.get("followersCount"), NAME)
    profile.set_count("following", body.get("followsCount"), NAME)
    profile.set_count("posts", body.get("postsCount"), NAME)
    verification = body.get("verification")
    if isinstance(verification, dict) and verification.get("verifiedStatus"):
        profile.set("verified", verification.get("verifiedStatus") == "valid", NAME)
    profile.add_links(find_urls(profile.get("bio")), NAME)
    profile.add_emails(find_emails(profile.get("bio")), NAME)
    handle = profile.get("handle")
    invalid = handle in (None, "handle.invalid")
    actor = profile.get("platform_user_id") if invalid else handle
    return profile.build(f"https://bsky.app/profile/{actor}")


class BlueskyApi(Source):
    """Bluesky's public AppView (no credentials)."""

    name = NAME
    platform = "bluesky"
    endpoint = "GET https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile"
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
        """getProfile for the URL's actor; raises ``SourceFailed``."""
        actor = actor_of(target)
        if actor is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_profile_url")
        response = client.request(request_url(actor))
        if response.status != 200:
            raise error_of(response)
        return parse(json_body(response))
