"""X/Twitter profile pages (``x.com/<handle>``, ``twitter.com/<handle>``).

Page data read, first found wins:

- JSON-LD ``ProfilePage`` (server-rendered pages for browsers, 2023-): ``mainEntity`` Person;
- the rendered profile header of pages saved from a browser, by its ``data-testid`` markers
  (``UserName``, ``UserDescription``, ``UserUrl``, ``UserAvatar-Container-<handle>``, the
  ``/<handle>/following`` and ``/<handle>/followers`` or ``/verified_followers`` links);
- OpenGraph (the small page X serves to crawlers): ``og:title`` "Name (@handle) on X",
  ``og:description`` (the bio), ``og:image``, ``og:url``, and the ``twitter://user?screen_name=``
  app link.

Fields:

- platform_user_id: ``mainEntity.identifier``; handle: ``mainEntity.additionalName``, else the
  ``(@handle)`` of og:title, else the app link, else the canonical/og:url/request URL path;
- display_name: ``mainEntity.name``, else the header name, else og:title before " (@handle)";
- bio: ``mainEntity.description``, else the header description, else
  ``og:description``/``description``;
- avatar_url: ``mainEntity.image.contentUrl``, else the header avatar, else ``og:image`` only when
  it is a ``pbs.twimg.com/profile_images/`` picture (on full pages og:image is X's generic card);
- followers / following / posts: ``interactionStatistic`` FollowAction ("Follows") /
  SubscribeAction ("Friends") / WriteAction ("Tweets"), exact; else the header's following and
  followers links ("3,885 Followers", rounded ones such as "1.2M" set counts_approximate);
- external_links: ``ProfilePage.relatedLink`` (the website and the t.co links of the bio), else
  the header's ``UserUrl`` link;
- verified: the header's ``icon-verified`` badge when the header is present (None otherwise:
  JSON-LD and OpenGraph do not say).
"""

import re

import lxml.html

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    element_text,
    safe_split,
    tolerant,
)
from app.scraping.extractors.jsonld import profile_entity, read_entity
from app.scraping.models import CreatorProfile

_TITLE_RE = re.compile(r"^(.*?)\s*\(@(\w{1,50})\)")
_HANDLE_PATH_RE = re.compile(r"^/(\w{1,50})/?$")
_APP_LINK_RE = re.compile(r"screen_name=(\w{1,50})")
_NOT_HANDLES = {"home", "explore", "search", "i", "intent", "share", "settings", "login"}
_COUNT_LINKS = (
    ("following", "following"),
    ("followers", "followers"),
    ("followers", "verified_followers"),
)


def _testid(page: Page, test_id: str) -> lxml.html.HtmlElement | None:
    """Return the first element with ``data-testid=test_id`` (None without a DOM)."""
    if page.dom is None:
        return None
    found = page.dom.xpath(f"//*[@data-testid='{test_id}']")
    return found[0] if found else None


def _read_header(page: Page, profile: ProfileBuilder) -> None:
    """Read the rendered profile header of a browser-saved page."""
    source = "profile header"
    name = _testid(page, "UserName")
    if name is None:
        return
    texts = [text for text in (element_text(span) for span in name.iter("span")) if text]
    handles = [text for text in texts if text.startswith("@")]
    profile.set("handle", handles[0] if handles else None, source)
    names = [text for text in texts if not text.startswith("@")]
    profile.set("display_name", names[0] if names else None, source)
    profile.set("verified", bool(name.xpath(".//*[@data-testid='icon-verified']")), source)
    description = _testid(page, "UserDescription")
    if description is not None:
        profile.set("bio", description.text_content(), source)
    url = _testid(page, "UserUrl")
    if url is not None:
        profile.add_links([url.get("href")], source)
    handle = profile.get("handle")
    if not handle or page.dom is None:
        return
    avatar = page.dom.xpath(f"//*[@data-testid='UserAvatar-Container-{handle}']//img/@src")
    profile.set("avatar_url", avatar[0] if avatar else None, source)
    for field, suffix in _COUNT_LINKS:
        for anchor in page.dom.xpath(f"//a[@href='/{handle}/{suffix}']"):
            profile.set_count(field, anchor.text_content(), source)


def extract(page: Page) -> CreatorProfile:
    """Extract an X/Twitter profile.

    Args:
        page (Page): the saved profile page.

    Returns:
        CreatorProfile: the profile (platform "x").
    """
    profile = ProfileBuilder("x", page)
    with tolerant("json-ld"):
        profile_page, entity = profile_entity(page)
        if entity:
            read_entity(profile, entity, profile_page, subscribe_field="following")
    complete = all(profile.has(field) for field in ("display_name", "followers", "following"))
    if not complete and 'data-testid="UserName"' in page.html:
        with tolerant("profile header"):
            _read_header(page, profile)
    title = _TITLE_RE.match(page.meta_text("og:title", "title") or page.title or "")
    if title:
        profile.set("display_name", title.group(1), "og:title")
        profile.set("handle", title.group(2), "og:title")
    app_link = _APP_LINK_RE.search(page.meta_text("al:ios:url", "al:android:url") or "")
    profile.set("handle", app_link.group(1) if app_link else None, "al:ios:url")
    profile.set("bio", page.meta_text("og:description", "description"), "og:description")
    image = page.meta_text("og:image") or ""
    if "/profile_images/" in image:
        profile.set("avatar_url", image, "og:image")
    for url, source in ((page.canonical, "canonical"), (page.url, "url")):
        match = _HANDLE_PATH_RE.match(safe_split(url).path)
        if match and match.group(1).lower() not in _NOT_HANDLES:
            profile.set("handle", match.group(1), source)
    handle = profile.get("handle")
    return profile.build(f"https://x.com/{handle}" if handle else None)
