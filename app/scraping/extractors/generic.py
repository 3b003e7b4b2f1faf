"""Any other site, typically a creator's own homepage (platform "web").

Page data read, in order of preference for each field:

1. JSON-LD: a ``ProfilePage``'s ``mainEntity``, else a top-level ``Person``/``Organization``,
   else the site node (``WebSite``/``Organization``) carrying ``sameAs`` links (site generators
   such as jekyll-seo-tag describe the site owner there);
2. microformats2 (mf2py): the representative ``h-card``: the one whose ``url``/``uid`` is the
   page URL, else the first top-level h-card, else the ``author`` h-card of a top-level h-feed;
3. OpenGraph/Twitter/meta tags;
4. the DOM (lxml): ``rel="me"`` links, ``mailto:`` links, addresses in the visible text, an
   ``<img>`` whose id/class says avatar.

Fields:

- display_name: JSON-LD ``name``; h-card ``name``; ``<meta name=author>``; ``og:site_name``;
  ``og:title``;
- handle: JSON-LD ``alternateName``; h-card ``nickname``; ``twitter:creator`` (without "@");
- bio: JSON-LD ``description``; h-card ``note``/``summary``; the h-card's first paragraph;
  ``og:description``; ``<meta name=description>``;
- avatar_url: JSON-LD ``image``; h-card ``photo``; an avatar ``<img>``; ``og:image``;
  ``twitter:image`` (all made absolute against the page URL);
- followers/following/posts: JSON-LD ``interactionStatistic`` (see ``jsonld``);
- external_links: JSON-LD ``sameAs``; h-card ``url`` values; ``rel="me"`` links;
- emails: JSON-LD ``email``; h-card ``email``; ``mailto:`` links; addresses in visible text
  (look-alikes such as ``logo@2x.png`` or ``pkg@1.4.1`` are skipped).
"""

from typing import Any

import mf2py

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    absolute_url,
    element_text,
    find_emails,
    has_class,
    schema_types,
    tolerant,
)
from app.scraping.extractors.jsonld import profile_entity, read_entity
from app.scraping.models import CreatorProfile

_SITE_TYPES = {"WebSite", "Organization", "WebPage", "Blog"}
_AVATAR_HINTS = ("avatar", "profile-photo", "profile-pic", "profile_pic", "headshot", "u-photo")


def _same_page(a: str, b: str) -> bool:
    """Compare two URLs ignoring scheme, ``www.`` and trailing slash."""

    def key(url: str) -> str:
        url = url.split("://", 1)[-1].removeprefix("www.")
        return url.rstrip("/").lower()

    return bool(a and b) and key(a) == key(b)


def _first_value(card: dict[str, Any], name: str) -> Any:
    """Return the first value of an mf2 property (``value`` of embedded objects)."""
    values = card.get("properties", {}).get(name) or []
    if not values:
        return None
    value = values[0]
    return value.get("value") if isinstance(value, dict) else value


def _strings(card: dict[str, Any], name: str) -> list[str]:
    """Return all values of an mf2 property as strings."""
    values = card.get("properties", {}).get(name) or []
    return [
        value.get("value") if isinstance(value, dict) else value
        for value in values
        if isinstance(value, str)
        or (isinstance(value, dict) and isinstance(value.get("value"), str))
    ]


def representative_hcard(page: Page) -> dict[str, Any] | None:
    """Find the h-card that represents the page's owner.

    Args:
        page (Page): the page.

    Returns:
        dict[str, Any] | None: mf2 JSON of the h-card, or None.
    """
    if "h-card" not in page.html:
        return None
    parsed = mf2py.parse(doc=page.html, url=page.url or None, html_parser="lxml")
    top_cards = [item for item in parsed.get("items", []) if "h-card" in item.get("type", [])]
    nested_cards = [
        value
        for item in parsed.get("items", [])
        if "h-feed" in item.get("type", [])
        for value in item.get("properties", {}).get("author", [])
        if isinstance(value, dict) and "h-card" in value.get("type", [])
    ]
    for card in top_cards + nested_cards:
        if any(_same_page(url, page.url) for url in _strings(card, "url") + _strings(card, "uid")):
            return card
    cards = top_cards or nested_cards
    return cards[0] if cards else None


def _hcard_paragraph(page: Page, card: dict[str, Any]) -> str | None:
    """Return the first paragraph inside the h-card's element (bio when no p-note is marked)."""
    if page.dom is None:
        return None
    markers = {
        absolute_url(url, page.url) for url in _strings(card, "url") + _strings(card, "photo")
    }
    for element in page.dom.xpath(f"//*[{has_class('h-card')}]"):
        targets = {
            absolute_url(node.get("href") or node.get("src"), page.url)
            for node in element.iter("a", "img")
        }
        if markers & targets:
            for paragraph in element.iter("p"):
                text = element_text(paragraph)
                if text:
                    return text
    return None


def _avatar_img(page: Page) -> str | None:
    """Return the src of an ``<img>`` whose id or class names it as an avatar."""
    if page.dom is None:
        return None
    for image in page.dom.iter("img"):
        hint = f"{image.get('id', '')} {image.get('class', '')}".lower()
        if image.get("src") and any(word in hint for word in _AVATAR_HINTS):
            return image.get("src")
    return None


def read_page(page: Page, profile: ProfileBuilder) -> None:
    """Fill ``profile`` from a page's structured data (JSON-LD, h-card, meta, rel=me, e-mails).

    Args:
        page (Page): the page.
        profile (ProfileBuilder): profile being built; values already set are kept.
    """
    with tolerant("json-ld"):
        profile_page, entity = profile_entity(page)
        if entity is None:
            entity = next(
                (
                    node
                    for node in page.json_ld
                    if schema_types(node) & _SITE_TYPES and node.get("sameAs")
                ),
                None,
            )
        if entity is not None:
            read_entity(profile, entity, profile_page)

    card = None
    with tolerant("h-card"):
        card = representative_hcard(page)
    if card is not None:
        with tolerant("h-card"):
            _read_hcard(page, card, profile)
    _read_meta_and_dom(page, profile)


def _read_hcard(page: Page, card: dict[str, Any], profile: ProfileBuilder) -> None:
    """Copy the representative h-card into the profile."""
    if card is not None:
        source = "h-card"
        profile.set("display_name", _first_value(card, "name"), source)
        profile.set("handle", _first_value(card, "nickname"), source)
        profile.set("bio", _first_value(card, "note") or _first_value(card, "summary"), source)
        profile.set("avatar_url", _first_value(card, "photo"), source)
        profile.add_links(_strings(card, "url"), source)
        profile.add_emails(_strings(card, "email"), source)
        if not profile.has("bio"):
            profile.set("bio", _hcard_paragraph(page, card), "h-card paragraph")


def _read_meta_and_dom(page: Page, profile: ProfileBuilder) -> None:
    """Read meta tags, then rel=me links, mailto: links and addresses in the visible text."""
    profile.set("display_name", page.meta_text("author"), "meta author")
    profile.set("display_name", page.meta_text("og:site_name", "og:title"), "og:title")
    creator = page.meta_text("twitter:creator") or ""
    if creator.startswith("@"):
        profile.set("handle", creator, "twitter:creator")
    profile.set("bio", page.meta_text("og:description", "description"), "og:description")
    with tolerant("img.avatar"):
        if not profile.has("avatar_url"):
            profile.set("avatar_url", _avatar_img(page), "img.avatar")
    profile.set("avatar_url", page.meta_text("og:image", "twitter:image"), "og:image")
    with tolerant("rel=me"):
        profile.add_links(page.rel_me(), "rel=me")
    with tolerant("mailto"):
        if page.dom is not None and "mailto:" in page.html:
            hrefs = [str(anchor.get("href", "")) for anchor in page.dom.iter("a")]
            emails = [href for href in hrefs if href.lower().startswith("mailto:")]
            profile.add_emails(emails, "mailto")
    with tolerant("link mailto"):
        profile.add_emails(page.head_emails(), "link")
    with tolerant("text"):
        if page.dom is not None:
            profile.add_emails(find_emails(page.visible_text()), "text")


def extract(page: Page) -> CreatorProfile:
    """Extract a creator from any web page.

    Args:
        page (Page): the page.

    Returns:
        CreatorProfile: the profile (platform "web").
    """
    profile = ProfileBuilder("web", page)
    read_page(page, profile)
    return profile.build()
