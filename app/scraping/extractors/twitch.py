"""Twitch channel pages (``twitch.tv/<login>``).

Page data read: meta tags only. Twitch served a client-rendered shell until ~2022 whose
``og:title`` ("Twitch"), ``og:description`` (the site slogan) and ``og:image`` (the Twitch logo)
are site-wide defaults; newer pages put channel values in the same tags ("<Name> - Twitch", the
channel description, ``static-cdn.jtvnw.net/jtv_user_pictures/...profile_image...``).

Fields:

- handle: the login in ``og:url``/canonical, else in the request URL;
- display_name: ``og:title`` without the " - Twitch" suffix, unless it is just "Twitch";
- bio: ``og:description`` unless it is the site-wide slogan;
- avatar_url: ``og:image`` only when it is a ``jtv_user_pictures`` profile picture;
- nothing else is in the HTML (follower counts load through the GraphQL API), so nothing else
  is reported.
"""

import re

from app.scraping.extractors.base import Page, ProfileBuilder, safe_split
from app.scraping.models import CreatorProfile

_LOGIN_PATH_RE = re.compile(r"^/(\w{2,25})/?$")
_NOT_LOGINS = {"directory", "downloads", "jobs", "p", "search", "settings", "subscriptions"}
_TITLE_SUFFIX_RE = re.compile(r"\s+[-\u2013|]\s+Twitch$")
_SITE_SLOGAN = "leading video platform"


def extract(page: Page) -> CreatorProfile:
    """Extract a Twitch channel profile.

    Args:
        page (Page): the saved channel page.

    Returns:
        CreatorProfile: the profile (platform "twitch"); only the handle for the old shell.
    """
    profile = ProfileBuilder("twitch", page)
    for url, source in ((page.canonical, "og:url"), (page.url, "url")):
        match = _LOGIN_PATH_RE.match(safe_split(url).path)
        if match and match.group(1).lower() not in _NOT_LOGINS:
            profile.set("handle", match.group(1), source)
    title = page.meta_text("og:title", "twitter:title") or ""
    if title.strip().lower() != "twitch":
        profile.set("display_name", _TITLE_SUFFIX_RE.sub("", title), "og:title")
    description = page.meta_text("og:description", "description") or ""
    if _SITE_SLOGAN not in description:
        profile.set("bio", description, "og:description")
    image = page.meta_text("og:image") or ""
    if "jtv_user_pictures" in image:
        profile.set("avatar_url", image, "og:image")
    handle = profile.get("handle")
    return profile.build(f"https://www.twitch.tv/{handle.lower()}" if handle else None)
