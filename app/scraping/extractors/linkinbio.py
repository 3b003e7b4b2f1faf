"""Link-in-bio pages: Linktree (``linktr.ee/<username>``, platform "linktree") and other
link-in-bio hosts (beacons.ai, bio.link, lnk.bio, linkin.bio, campsite.bio, ..., platform
"linkinbio").

Page data read:

- ``<script id="__NEXT_DATA__">`` (Next.js pages, Linktree and others):
  ``props.pageProps.account`` = ``{id, username, pageTitle, description, profilePictureUrl,
  isVerified?, socialLinks?}``, ``props.pageProps.links`` = ``[{url, title, ...}]`` and
  ``props.pageProps.socialLinks`` = ``[{type, url}]``;
- otherwise the generic reading (JSON-LD, OpenGraph, h-card) plus every outbound ``<a href>``,
  since listing outbound links is what these pages are for.

Fields (``__NEXT_DATA__``): platform_user_id ``account.id``; handle ``account.username``;
display_name ``account.pageTitle`` (else ``account.profileTitle``/``og:title`` without
" | Linktree"); bio ``account.description``; avatar_url ``account.profilePictureUrl`` (else
``og:image``); verified ``account.isVerified`` when boolean; external_links the
``links[].url`` (``account.links`` on pages that nest them; header rows without a URL skipped)
then ``socialLinks[].url`` (``mailto:`` social links become emails).

Outbound ``<a href>`` links of pages without that JSON skip the host's own chrome: links back to
the host, app-store badges, and "made with"/sign-up/report links to the host's other domains.
"""

import re

from app.scraping.extractors import generic
from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    absolute_url,
    clean_text,
    dig,
    safe_split,
    tolerant,
)
from app.scraping.models import CreatorProfile, Platform

_CHROME_HOSTS = ("apps.apple.com", "itunes.apple.com", "play.google.com")
_CHROME_TEXT_RE = re.compile(
    r"\b(sign ?up|log ?in|create your|get started|join\b|report|cookie|privacy|terms)",
    re.IGNORECASE,
)
_SITE_SUFFIX_RE = re.compile(r"\s*[|\u2022\u00b7-]\s*(Linktree|Beacons|bio\.link|Linkpop)\s*$")


def platform_of(page: Page) -> Platform:
    """Return "linktree" for Linktree pages, "linkinbio" for other hosts.

    Args:
        page (Page): the page.

    Returns:
        Platform: the platform name.
    """
    return "linktree" if page.host.endswith("linktr.ee") else "linkinbio"


def _outbound_links(page: Page) -> list[str]:
    """Return absolute ``<a href>`` targets that leave the page's site, in order.

    The host's own chrome is skipped: links to the host, app-store badges and links whose text
    is a sign-up/log-in/report/legal call to action.
    """
    if page.dom is None:
        return []
    site = page.host.removeprefix("www.")
    brand = site.split(".")[0]
    links = []
    for anchor in page.dom.iter("a"):
        url = absolute_url(anchor.get("href"), page.url)
        host = (safe_split(url).hostname or "").lower() if url else ""
        if not url or not host or host.endswith(site) or host.endswith(_CHROME_HOSTS):
            continue
        text = anchor.text_content() or ""
        if _CHROME_TEXT_RE.search(text) and brand and brand in (host + text.lower()):
            continue
        links.append(url)
    return links


def extract(page: Page) -> CreatorProfile:
    """Extract a link-in-bio profile.

    Args:
        page (Page): the saved link-in-bio page.

    Returns:
        CreatorProfile: the profile (platform "linktree" or "linkinbio").
    """
    profile = ProfileBuilder(platform_of(page), page)
    props = dig(page.script_json("__NEXT_DATA__"), "props", "pageProps")
    account = props.get("account") if isinstance(props, dict) else None
    if not isinstance(account, dict):
        with tolerant("generic"):
            generic.read_page(page, profile)
        with tolerant("a[href]"):
            profile.add_links(_outbound_links(page), "a[href]")
        return profile.build()

    with tolerant("__NEXT_DATA__.account"):
        source = "__NEXT_DATA__.account"
        account_id = account.get("id")
        profile.set("platform_user_id", clean_text(str(account_id)) if account_id else None, source)
        profile.set("handle", account.get("username"), source)
        profile.set("display_name", account.get("pageTitle"), source)
        profile.set("display_name", account.get("profileTitle"), source)
        profile.set("bio", account.get("description"), source)
        profile.set("avatar_url", account.get("profilePictureUrl"), source)
        profile.set("verified", account.get("isVerified"), source)
    with tolerant("__NEXT_DATA__.links"):
        links = props.get("links") or account.get("links") or []
        links = [link for link in links if isinstance(link, dict)]
        profile.add_links([link.get("url") for link in links], "__NEXT_DATA__.links")
    with tolerant("__NEXT_DATA__.socialLinks"):
        socials = props.get("socialLinks") or account.get("socialLinks") or []
        social_urls = [link.get("url") for link in socials if isinstance(link, dict)]
        profile.add_emails(
            [url for url in social_urls if isinstance(url, str) and url.startswith("mailto:")],
            "__NEXT_DATA__.socialLinks",
        )
        profile.add_links(social_urls, "__NEXT_DATA__.socialLinks")
    title = _SITE_SUFFIX_RE.sub("", page.meta_text("og:title") or "")
    profile.set("display_name", title, "og:title")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")
    handle = profile.get("handle")
    url = f"https://linktr.ee/{handle}" if handle and profile.platform == "linktree" else None
    return profile.build(url)
