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
display_name ``account.pageTitle``; bio
``account.description``; avatar_url ``account.profilePictureUrl``; verified
``account.isVerified`` when boolean; external_links the ``links[].url`` then ``socialLinks[].url``
(``mailto:`` social links become emails).
"""

from urllib.parse import urlsplit

from app.scraping.extractors import generic
from app.scraping.extractors.base import Page, ProfileBuilder, absolute_url, clean_text, dig
from app.scraping.models import CreatorProfile, Platform


def _platform(page: Page) -> Platform:
    """Return "linktree" for Linktree pages, "linkinbio" for other hosts."""
    return "linktree" if page.host.endswith("linktr.ee") else "linkinbio"


def _outbound_links(page: Page) -> list[str]:
    """Return absolute ``<a href>`` targets that leave the page's site, in order."""
    if page.dom is None:
        return []
    site = page.host.removeprefix("www.")
    links = []
    for anchor in page.dom.iter("a"):
        url = absolute_url(anchor.get("href"), page.url)
        host = (urlsplit(url).hostname or "").lower() if url else ""
        if url and host and not host.endswith(site):
            links.append(url)
    return links


def extract(page: Page) -> CreatorProfile:
    """Extract a link-in-bio profile.

    Args:
        page (Page): the saved link-in-bio page.

    Returns:
        CreatorProfile: the profile (platform "linktree" or "linkinbio").
    """
    props = dig(page.script_json("__NEXT_DATA__"), "props", "pageProps") or {}
    account = props.get("account") if isinstance(props, dict) else None
    if not isinstance(account, dict):
        profile = ProfileBuilder(_platform(page), page)
        generic.read_page(page, profile)
        profile.add_links(_outbound_links(page), "a[href]")
        return profile.build()

    profile = ProfileBuilder(_platform(page), page)
    source = "__NEXT_DATA__.account"
    account_id = account.get("id")
    profile.set("platform_user_id", clean_text(str(account_id)) if account_id else None, source)
    profile.set("handle", account.get("username"), source)
    profile.set("display_name", account.get("pageTitle"), source)
    profile.set("bio", account.get("description"), source)
    profile.set("avatar_url", account.get("profilePictureUrl"), source)
    if isinstance(account.get("isVerified"), bool):
        profile.set("verified", account["isVerified"], source)
    links = [link for link in props.get("links") or [] if isinstance(link, dict)]
    profile.add_links([link.get("url") for link in links], "__NEXT_DATA__.links")
    socials = props.get("socialLinks") or account.get("socialLinks") or []
    social_urls = [link.get("url") for link in socials if isinstance(link, dict)]
    profile.add_emails(
        [url for url in social_urls if isinstance(url, str) and url.startswith("mailto:")],
        "__NEXT_DATA__.socialLinks",
    )
    profile.add_links(social_urls, "__NEXT_DATA__.socialLinks")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")
    handle = profile.get("handle")
    url = f"https://linktr.ee/{handle}" if handle and profile.platform == "linktree" else None
    return profile.build(url)
