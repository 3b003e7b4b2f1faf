"""Instagram profile pages (``instagram.com/<username>/``).

Page data read, first found wins:

- ``window._sharedData`` (until ~2022): ``entry_data.ProfilePage[0].graphql.user``. A page
  saved while logged in also carries ``config.viewer``, the *visitor's* account: it is never read;
- ``window.__additionalDataLoaded('/<username>/', {graphql: {user}})`` (2020-2022);
- a raw ``web_profile_info`` API answer (``{"data": {"user": ...}}``), when that is what was saved;
- otherwise only meta tags (logged-out pages since ~2023): ``og:description``/``description``
  "2,362 Followers, 136 Following, 224 Posts - ..." in the page's locale, ``og:title``
  "Name (@username) • Instagram ...", the bio quoted at the end of ``description``, and
  ``og:image``; HTML entities are decoded.

Fields (from ``user`` when present, meta otherwise):

- platform_user_id: ``id``; handle: ``username`` (else og:title/canonical URL);
- display_name: ``full_name``; bio: ``biography``; avatar_url: ``profile_pic_url_hd`` >
  ``profile_pic_url`` > ``og:image``;
- followers / following / posts: ``edge_followed_by.count`` / ``edge_follow.count`` /
  ``edge_owner_to_timeline_media.count`` (API shape: ``follower_count``...), else the first
  three counts of the meta description (rounded ones such as "4,69 M" set counts_approximate);
- verified: ``is_verified``; is_business_account: ``is_business_account``; category:
  ``category_name`` (else ``business_category_name``);
- external_links: ``external_url`` and ``bio_links[].url``;
- emails: ``business_email`` and addresses written in the biography.
"""

import re
from typing import Any

from app.scraping.counts import parse_count
from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    clean_text,
    dig,
    find_emails,
    safe_split,
    tolerant,
)
from app.scraping.models import CreatorProfile

_PATH_HANDLE_RE = re.compile(r"^/([A-Za-z0-9._]+)/?")
_NOT_PROFILES = {"p", "reel", "reels", "explore", "accounts", "stories", "tv", "direct"}
_TITLE_RE = re.compile(r"^(.*?)\s*\(@([A-Za-z0-9._]+)\)")
# The counts are before the first dash that separates them from the "See Instagram..." text
# (or, in layouts without the dash, before the "@handle").
_COUNTS_PART_RE = re.compile(r"^(.*?)\s[-\u2013\u2014]\s")
_COUNT_TOKEN_RE = re.compile(r"\d[\d.,\u00a0\u202f\u2009 ]*\s*[^\W\d_]*\.?")
_QUOTED_BIO_RE = re.compile(r"\(@[A-Za-z0-9._]+\)[^\"“«]*[\"“«](.*)[\"”»]\s*$", re.DOTALL)


def _graphql_user(page: Page) -> tuple[dict[str, Any], str] | None:
    """Find the profile owner's ``user`` object in the embedded JSON (never ``config.viewer``)."""
    html = page.html
    if "_sharedData" in html:
        shared = page.assigned_json(r"window\._sharedData\s*=\s*")
        user = dig(shared, "entry_data", "ProfilePage", 0, "graphql", "user")
        if isinstance(user, dict):
            return user, "_sharedData.ProfilePage.graphql.user"
    if "__additionalDataLoaded" in html:
        for match in re.finditer(r"__additionalDataLoaded\(\s*['\"][^'\"]*['\"]\s*,\s*", html):
            data = page.assigned_json(re.escape(match.group(0)))
            user = dig(data, "graphql", "user") or dig(data, "user")
            if isinstance(user, dict) and user.get("username"):
                return user, "__additionalDataLoaded.graphql.user"
    if html.lstrip().startswith("{"):
        data = page.assigned_json(r"^\s*")
        user = dig(data, "data", "user") or dig(data, "graphql", "user")
        if isinstance(user, dict):
            return user, "web_profile_info.user"
    return None


def _edge_count(user: dict[str, Any], edge: str, flat: str) -> int | None:
    """Return a count from the graphql ``edge_*`` shape or the flat API shape."""
    value = dig(user, edge, "count")
    if isinstance(value, int):
        return value
    flat_value = user.get(flat)
    return flat_value if isinstance(flat_value, (int, str)) else None


def _read_user(user: dict[str, Any], source: str, profile: ProfileBuilder) -> None:
    """Copy the graphql/API user object into the profile."""
    profile.set("platform_user_id", clean_text(str(user.get("id") or user.get("pk") or "")), source)
    profile.set("handle", user.get("username"), source)
    profile.set("display_name", user.get("full_name"), source)
    profile.set("bio", user.get("biography"), source)
    profile.set("avatar_url", user.get("profile_pic_url_hd") or user.get("profile_pic_url"), source)
    profile.set_count("followers", _edge_count(user, "edge_followed_by", "follower_count"), source)
    profile.set_count("following", _edge_count(user, "edge_follow", "following_count"), source)
    profile.set_count(
        "posts", _edge_count(user, "edge_owner_to_timeline_media", "media_count"), source
    )
    for field, key in (("verified", "is_verified"), ("is_business_account", "is_business_account")):
        if isinstance(user.get(key), bool):
            profile.set(field, user[key], source)
    profile.set("category", user.get("category_name") or user.get("business_category_name"), source)
    links = [user.get("external_url")]
    bio_links = user.get("bio_links")
    bio_links = bio_links if isinstance(bio_links, list) else []
    links += [link.get("url") for link in bio_links if isinstance(link, dict)]
    profile.add_links(links, source)
    profile.add_emails([user.get("business_email"), user.get("public_email")], source)
    profile.add_emails(find_emails(user.get("biography")), source)


def _read_meta(page: Page, profile: ProfileBuilder) -> None:
    """Read what the meta tags say (the only data in logged-out pages since ~2023)."""
    title = _TITLE_RE.match(page.meta_text("og:title", "twitter:title") or page.title or "")
    if title:
        profile.set("display_name", title.group(1), "og:title")
        profile.set("handle", title.group(2), "og:title")
    for key in ("og:description", "description"):
        text = page.meta_text(key) or ""
        part = _COUNTS_PART_RE.match(text)
        head = part.group(1) if part else text.split("@", 1)[0]
        tokens = [token.group(0) for token in _COUNT_TOKEN_RE.finditer(head)]
        counts = [token for token in tokens if parse_count(token) is not None]
        if len(counts) == 3:
            for field, token in zip(("followers", "following", "posts"), counts, strict=True):
                profile.set_count(field, token, key)
    bio = _QUOTED_BIO_RE.search(page.meta_text("description") or "")
    profile.set("bio", bio.group(1) if bio else None, "description")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")


def extract(page: Page) -> CreatorProfile:
    """Extract an Instagram profile.

    Args:
        page (Page): the saved profile page.

    Returns:
        CreatorProfile: the profile (platform "instagram").
    """
    profile = ProfileBuilder("instagram", page)
    found = None
    with tolerant("embedded JSON"):
        found = _graphql_user(page)
    if found:
        with tolerant(found[1]):
            _read_user(*found, profile)
    with tolerant("meta"):
        _read_meta(page, profile)
    for url, source in ((page.canonical, "canonical"), (page.url, "url")):
        match = _PATH_HANDLE_RE.match(safe_split(url).path)
        if match and match.group(1) not in _NOT_PROFILES:
            profile.set("handle", match.group(1), source)
    handle = profile.get("handle")
    return profile.build(f"https://www.instagram.com/{handle}/" if handle else None)
