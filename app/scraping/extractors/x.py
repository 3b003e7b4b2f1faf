"""X/Twitter profile pages (``x.com/<handle>``, ``twitter.com/<handle>``).

Page data read:

- JSON-LD ``ProfilePage`` (server-rendered pages for browsers, 2023-): ``mainEntity`` Person;
- OpenGraph only (the small page X serves to crawlers): ``og:title`` "Name (@handle) on X",
  ``og:description`` (the bio), ``og:image``, ``og:url``.

Fields:

- platform_user_id: ``mainEntity.identifier``; handle: ``mainEntity.additionalName``, else the
  ``(@handle)`` of og:title, else the canonical/og:url/request URL path;
- display_name: ``mainEntity.name``, else og:title before " (@handle)";
- bio: ``mainEntity.description``, else ``og:description``/``description``;
- avatar_url: ``mainEntity.image.contentUrl``, else ``og:image`` only when it is a
  ``pbs.twimg.com/profile_images/`` picture (on full pages og:image is X's generic card);
- followers / following / posts: ``interactionStatistic`` FollowAction ("Follows") /
  SubscribeAction ("Friends") / WriteAction ("Tweets"); exact integers;
- external_links: ``ProfilePage.relatedLink`` (the website and the t.co links of the bio);
- verified: not present in these pages (left None).
"""

import re
from urllib.parse import urlsplit

from app.scraping.extractors.base import Page, ProfileBuilder
from app.scraping.extractors.jsonld import profile_entity, read_entity
from app.scraping.models import CreatorProfile

_TITLE_RE = re.compile(r"^(.*?)\s*\(@(\w{1,50})\)")
_HANDLE_PATH_RE = re.compile(r"^/(\w{1,50})/?$")
_NOT_HANDLES = {"home", "explore", "search", "i", "intent", "share", "settings", "login"}


def extract(page: Page) -> CreatorProfile:
    """Extract an X/Twitter profile.

    Args:
        page (Page): the saved profile page.

    Returns:
        CreatorProfile: the profile (platform "x").
    """
    profile = ProfileBuilder("x", page)
    profile_page, entity = profile_entity(page)
    if entity:
        read_entity(profile, entity, profile_page, subscribe_field="following")
    title = _TITLE_RE.match(page.meta_text("og:title", "title") or page.title or "")
    if title:
        profile.set("display_name", title.group(1), "og:title")
        profile.set("handle", title.group(2), "og:title")
    profile.set("bio", page.meta_text("og:description", "description"), "og:description")
    image = page.meta_text("og:image") or ""
    if "/profile_images/" in image:
        profile.set("avatar_url", image, "og:image")
    for url, source in ((page.canonical, "canonical"), (page.url, "url")):
        match = _HANDLE_PATH_RE.match(urlsplit(url or "").path)
        if match and match.group(1).lower() not in _NOT_HANDLES:
            profile.set("handle", match.group(1), source)
    handle = profile.get("handle")
    return profile.build(f"https://x.com/{handle}" if handle else None)
