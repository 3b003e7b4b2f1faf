"""Substack pages: publication home pages (``<pub>.substack.com`` or a custom domain), author
profiles (``substack.com/@<handle>``) and posts.

Page data read: ``window._preloads = JSON.parse("...")`` (JSON encoded inside a JS string), then
meta tags. Within ``_preloads``:

- ``profile`` (author profile pages): ``id``, ``name``, ``handle``, ``bio``, ``photo_url``,
  ``subscriberCount``/``followerCount`` when numeric, ``userLinks[].url``;
- ``pub`` (publication pages): ``author_id``, ``author_name``, ``author_handle``,
  ``author_bio``, ``author_photo_url``, ``name`` (the publication), ``base_url``;
- ``post.publishedBylines[0]`` (post pages): the author's ``id``, ``name``, ``handle``, ``bio``,
  ``photo_url``, ``twitter_screen_name``.

Post pages (``/p/<slug>``) also carry a JSON-LD ``NewsArticle`` whose ``author`` lists the
author's ``sameAs`` links.

Fields: platform_user_id (user id), handle, display_name, bio, avatar_url as listed; the
publication's ``name`` becomes ``publication_name``; external_links: the profile's
``userLinks``, the article author's ``sameAs``, then the X account named by
``twitter_screen_name`` (byline, else publication); profile_url of a post page is its
publication (``pub.base_url``), not the post; followers only when the page gives an
integer (publication pages usually say "hundreds of subscribers": no count is invented).
Fallbacks: ``<meta name="author">`` for display_name and the first segment of ``og:title``
("Publication | Author | Substack") for publication_name.
"""

from typing import Any

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    as_list,
    clean_text,
    dig,
    schema_types,
    tolerant,
)
from app.scraping.models import CreatorProfile


def _id(value: Any) -> str | None:
    """Return a numeric/string id as text."""
    if isinstance(value, bool) or value is None:
        return None
    return clean_text(str(value))


def extract(page: Page) -> CreatorProfile:
    """Extract a Substack creator (publication author or profile).

    Args:
        page (Page): the saved Substack page.

    Returns:
        CreatorProfile: the profile (platform "substack").
    """
    profile = ProfileBuilder("substack", page)
    preloads = None
    with tolerant("_preloads"):
        preloads = page.assigned_json(r"window\._preloads\s*=\s*")
    user = dig(preloads, "profile")
    pub = dig(preloads, "pub")
    byline = dig(preloads, "post", "publishedBylines", 0)
    if isinstance(user, dict):
        with tolerant("_preloads.profile"):
            _read_profile(user, profile)
    if isinstance(pub, dict):
        with tolerant("_preloads.pub"):
            _read_pub(pub, profile)
    if isinstance(byline, dict):
        with tolerant("_preloads.post.publishedBylines"):
            _read_byline(byline, profile)
    with tolerant("json-ld"):
        _read_article_author(page, profile)
    with tolerant("twitter_screen_name"):
        for holder, source in ((byline, "_preloads.post.publishedBylines"), (pub, "_preloads.pub")):
            name = clean_text(dig(holder, "twitter_screen_name"))
            if name:
                profile.add_links([f"https://twitter.com/{name}"], source)

    profile.set("display_name", page.meta_text("author"), "meta author")
    title = page.meta_text("og:title") or ""
    if title.endswith("| Substack") and title.count("|") >= 2:
        profile.set("publication_name", title.split("|")[0], "og:title")
    handle = profile.get("handle")
    if isinstance(user, dict) and handle:
        return profile.build(f"https://substack.com/@{handle}")
    if isinstance(byline, dict) and isinstance(pub, dict):
        profile.set("profile_url", dig(pub, "base_url"), "_preloads.pub")
    profile.set("profile_url", page.canonical or dig(pub, "base_url"), "canonical")
    return profile.build()


def _read_article_author(page: Page, profile: ProfileBuilder) -> None:
    """Read the ``sameAs`` links of a post's JSON-LD article author(s)."""
    for node in page.json_ld:
        if not schema_types(node) & {"NewsArticle", "Article", "BlogPosting"}:
            continue
        for author in as_list(node.get("author")):
            if isinstance(author, dict):
                profile.add_links(as_list(author.get("sameAs")), "json-ld author")


def _read_profile(user: dict[str, Any], profile: ProfileBuilder) -> None:
    """Read an author profile page's ``profile``."""
    if isinstance(user, dict):
        source = "_preloads.profile"
        profile.set("platform_user_id", _id(user.get("id")), source)
        profile.set("handle", user.get("handle"), source)
        profile.set("display_name", user.get("name"), source)
        profile.set("bio", user.get("bio"), source)
        profile.set("avatar_url", user.get("photo_url"), source)
        for key in ("subscriberCount", "followerCount"):
            if isinstance(user.get(key), int):
                profile.set_count("followers", user[key], source)
        links = [link.get("url") for link in user.get("userLinks") or [] if isinstance(link, dict)]
        profile.add_links(links, source)


def _read_pub(pub: dict[str, Any], profile: ProfileBuilder) -> None:
    """Read a publication page's ``pub`` (its author)."""
    if isinstance(pub, dict):
        source = "_preloads.pub"
        profile.set("platform_user_id", _id(pub.get("author_id")), source)
        profile.set("handle", pub.get("author_handle"), source)
        profile.set("display_name", pub.get("author_name"), source)
        profile.set("bio", pub.get("author_bio"), source)
        profile.set("avatar_url", pub.get("author_photo_url"), source)
        profile.set("publication_name", pub.get("name"), source)
        if isinstance(pub.get("freeSubscriberCount"), int):
            profile.set_count("followers", pub["freeSubscriberCount"], source)


def _read_byline(byline: dict[str, Any], profile: ProfileBuilder) -> None:
    """Read a post page's first byline (its author)."""
    if isinstance(byline, dict):
        source = "_preloads.post.publishedBylines"
        profile.set("platform_user_id", _id(byline.get("id")), source)
        profile.set("handle", byline.get("handle"), source)
        profile.set("display_name", byline.get("name"), source)
        profile.set("bio", byline.get("bio"), source)
        profile.set("avatar_url", byline.get("photo_url"), source)
