"""Telegram channel, group and user pages (``t.me/<name>`` and the ``t.me/s/<name>`` preview).

Page data read: the small server-rendered page's ``tgme_*`` elements (lxml DOM), then meta tags.

Fields:

- handle: the request URL path, else the ``tg://resolve?domain=<name>`` deep link (meta
  ``al:ios:url``/``twitter:app:url:*`` or link targets), else a ``t.me/<name>`` meta URL, else the
  "@name" of ``tgme_page_extra``/``tgme_channel_info_header_username``;
- display_name: ``.tgme_page_title`` (``.tgme_channel_info_header_title`` on /s/ pages), else
  ``og:title``;
- bio: ``.tgme_page_description``/``.tgme_channel_info_description`` (``<br>`` kept as newlines),
  else ``og:description``;
- avatar_url: ``img.tgme_page_photo_image`` (``.tgme_page_photo_image img`` on /s/ pages), else
  ``og:image`` unless it is Telegram's default logo;
- followers: ``.tgme_page_extra`` "2 805 members"/"12 345 subscribers" (also "..., 12 online"),
  or the subscribers/members ``.tgme_channel_info_counter`` of /s/ pages; exact integers;
- verified: a ``.verified-icon`` in the title (False when the title has none);
- external_links / emails: URLs and addresses written in the description.
"""

import re

import lxml.html

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    element_text,
    find_emails,
    find_urls,
    has_class,
    tolerant,
)
from app.scraping.models import CreatorProfile

_RESOLVE_RE = re.compile(r"tg:(?://|\\/\\/)resolve\?domain=([A-Za-z0-9_]{3,64})")
_TME_RE = re.compile(r"^https?://(?:t\.me|telegram\.me)/([A-Za-z0-9_]{3,64})/?$")
_PATH_RE = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{3,64})/?$")
_NOT_NAMES = {"joinchat", "addstickers", "share", "proxy", "iv", "login"}
_MEMBER_WORDS = ("member", "subscriber", "abonn", "suscript", "mitglied", "подписчик", "участник")


def _all(page: Page, class_name: str) -> list[lxml.html.HtmlElement]:
    """Return the elements carrying ``class_name`` (the DOM is only built if the class occurs)."""
    if class_name not in page.html or page.dom is None:
        return []
    return page.dom.xpath(f"//*[{has_class(class_name)}]")


def _first(page: Page, *classes: str) -> lxml.html.HtmlElement | None:
    """Return the first element carrying any of ``classes``."""
    for class_name in classes:
        found = _all(page, class_name)
        if found:
            return found[0]
    return None


def extract(page: Page) -> CreatorProfile:
    """Extract a Telegram channel/group/user profile.

    Args:
        page (Page): the saved t.me page.

    Returns:
        CreatorProfile: the profile (platform "telegram").
    """
    profile = ProfileBuilder("telegram", page)
    if page.host in ("t.me", "telegram.me", "www.t.me"):
        match = _PATH_RE.match(page.path)
        if match and match.group(1).lower() not in _NOT_NAMES:
            profile.set("handle", match.group(1), "url")
    resolve = _RESOLVE_RE.search(page.html)
    profile.set("handle", resolve.group(1) if resolve else None, "tg://resolve")
    for key in ("twitter:app:url:googleplay", "og:url"):
        match = _TME_RE.match(page.meta_text(key) or "")
        profile.set("handle", match.group(1) if match else None, key)

    with tolerant("tgme_page"):
        _read_dom(page, profile)
    profile.set("display_name", page.meta_text("og:title", "twitter:title"), "og:title")
    profile.set("bio", page.meta_text("og:description", "twitter:description"), "og:description")
    image = page.meta_text("og:image") or ""
    if "telegram.org/img/" not in image:
        profile.set("avatar_url", image, "og:image")
    profile.add_links(find_urls(profile.get("bio")), "bio")
    profile.add_emails(find_emails(profile.get("bio")), "bio")
    handle = profile.get("handle")
    return profile.build(f"https://t.me/{handle}" if handle else None)


def _read_dom(page: Page, profile: ProfileBuilder) -> None:
    """Read the ``tgme_*`` elements of the page."""
    title = _first(page, "tgme_page_title", "tgme_channel_info_header_title")
    profile.set("display_name", element_text(title), "tgme_page_title")
    if title is not None:
        profile.set("verified", bool(title.xpath(f".//*[{has_class('verified-icon')}]")), "title")
    description = _first(page, "tgme_page_description", "tgme_channel_info_description")
    profile.set("bio", element_text(description), "tgme_page_description")
    photo = _first(page, "tgme_page_photo_image")
    if photo is not None:
        image = photo if photo.tag == "img" else next(photo.iter("img"), None)
        profile.set("avatar_url", image.get("src") if image is not None else None, "tgme_photo")

    extra = element_text(_first(page, "tgme_page_extra")) or ""
    if extra.startswith("@"):
        profile.set("handle", extra.split()[0], "tgme_page_extra")
    else:
        profile.set_count("followers", extra, "tgme_page_extra")
    for counter in _all(page, "tgme_channel_info_counter"):
        text = element_text(counter) or ""
        if any(word in text.lower() for word in _MEMBER_WORDS):
            profile.set_count("followers", text, "tgme_channel_info_counter")
    username = element_text(_first(page, "tgme_channel_info_header_username")) or ""
    if username.startswith("@"):
        profile.set("handle", username, "tgme_channel_info_header_username")
