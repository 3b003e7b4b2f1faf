"""Bluesky profile pages (``bsky.app/profile/<handle or DID>``).

Page data read:

- JSON-LD ``ProfilePage`` with ``mainEntity`` Person (server-rendered by bskyweb). The block can
  hold raw newlines inside strings ("Writer \\n"), which strict JSON rejects, so it is decoded
  leniently;
- meta tags as fallback: ``profile:username``, ``og:title`` "Name (@handle)",
  ``twitter:value1`` (the account DID), ``og:description``, ``og:image``.

Fields:

- platform_user_id: ``mainEntity.identifier`` (the DID), else the DID in ``twitter:value1`` or
  the ``at://did:...`` alternate link;
- handle: ``mainEntity.alternateName`` without "@", else ``profile:username``/og:title/URL;
- display_name: ``mainEntity.name``, else og:title; bio: ``mainEntity.description``, else
  ``og:description``; avatar_url: ``mainEntity.image``, else ``og:image``;
- followers: ``interactionStatistic`` FollowAction; following / posts:
  ``agentInteractionStatistic`` FollowAction / WriteAction; exact integers;
- external_links: URLs written in the bio (Bluesky has no website field);
- emails: addresses written in the bio.
"""

import re

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    find_emails,
    find_urls,
    safe_split,
    tolerant,
)
from app.scraping.extractors.jsonld import profile_entity, read_entity
from app.scraping.models import CreatorProfile

_TITLE_RE = re.compile(r"^(.*?)\s*\(@([^)\s]+)\)")
_DID_RE = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]+")
_PROFILE_PATH_RE = re.compile(r"^/profile/([^/?#]+)")


def extract(page: Page) -> CreatorProfile:
    """Extract a Bluesky profile.

    Args:
        page (Page): the saved profile page.

    Returns:
        CreatorProfile: the profile (platform "bluesky").
    """
    profile = ProfileBuilder("bluesky", page)
    with tolerant("json-ld"):
        profile_page, entity = profile_entity(page)
        if entity:
            read_entity(profile, entity, profile_page)
    profile.set("handle", page.meta_text("profile:username"), "profile:username")
    title = _TITLE_RE.match(page.meta_text("og:title") or "")
    if title:
        profile.set("display_name", title.group(1), "og:title")
        profile.set("handle", title.group(2), "og:title")
    did = _DID_RE.search(page.meta_text("twitter:value1") or "")
    if not did:
        alternates = [
            attrs.get("href", "") for attrs in page.links if "alternate" in attrs.get("rel", "")
        ]
        did = _DID_RE.search(" ".join(alternates))
    profile.set("platform_user_id", did.group(0) if did else None, "twitter:value1")
    profile.set("bio", page.meta_text("og:description", "description"), "og:description")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")
    for url, source in ((page.canonical, "canonical"), (page.url, "url")):
        match = _PROFILE_PATH_RE.match(safe_split(url).path)
        if match and not match.group(1).startswith("did:"):
            profile.set("handle", match.group(1), source)
    profile.add_links(find_urls(profile.get("bio")), "bio")
    profile.add_emails(find_emails(profile.get("bio")), "bio")
    handle = profile.get("handle") or profile.get("platform_user_id")
    return profile.build(f"https://bsky.app/profile/{handle}" if handle else None)
