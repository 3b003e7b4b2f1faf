"""Pick the extractor for a page and run it.

One module per platform; each is a pure function ``extract(page) -> CreatorProfile`` over saved
HTML. The platform comes from the URL's host; when the host says nothing (custom domains, unknown
URL) a few unmistakable page signatures are recognised (Substack's ``_preloads`` on a custom
domain, Telegram's ``tgme_page`` markup) before falling back to the generic extractor.
"""

from collections.abc import Callable

from app.scraping.extractors import (
    bluesky,
    generic,
    instagram,
    linkinbio,
    substack,
    telegram,
    tiktok,
    twitch,
    x,
    youtube,
)
from app.scraping.extractors.base import Page, ProfileBuilder, logger
from app.scraping.models import CreatorProfile, Platform

Extractor = Callable[[Page], CreatorProfile]

# Host (or parent domain) -> extractor.
_HOSTS: dict[str, Extractor] = {
    "youtube.com": youtube.extract,
    "tiktok.com": tiktok.extract,
    "instagram.com": instagram.extract,
    "x.com": x.extract,
    "twitter.com": x.extract,
    "bsky.app": bluesky.extract,
    "twitch.tv": twitch.extract,
    "t.me": telegram.extract,
    "telegram.me": telegram.extract,
    "substack.com": substack.extract,
    "linktr.ee": linkinbio.extract,
    "beacons.ai": linkinbio.extract,
    "bio.link": linkinbio.extract,
    "lnk.bio": linkinbio.extract,
    "linkin.bio": linkinbio.extract,
    "campsite.bio": linkinbio.extract,
    "hoo.be": linkinbio.extract,
    "solo.to": linkinbio.extract,
    "linkpop.com": linkinbio.extract,
    "carrd.co": linkinbio.extract,
    "komi.io": linkinbio.extract,
    "stan.store": linkinbio.extract,
}


def extractor_for(page: Page) -> Extractor:
    """Choose the extractor for a page.

    Args:
        page (Page): the page (its URL host decides; page signatures break ties).

    Returns:
        Extractor: the platform's ``extract`` function, or the generic one.
    """
    host = page.host.removeprefix("www.").removeprefix("m.").removeprefix("mobile.")
    labels = host.split(".")
    for start in range(len(labels) - 1):
        extractor = _HOSTS.get(".".join(labels[start:]))
        if extractor:
            return extractor
    if "window._preloads" in page.html and "substackcdn.com" in page.html:
        return substack.extract
    if "tgme_page" in page.html and "tg://resolve" in page.html:
        return telegram.extract
    return generic.extract


_PLATFORMS: dict[Extractor, Platform] = {
    youtube.extract: "youtube",
    tiktok.extract: "tiktok",
    instagram.extract: "instagram",
    x.extract: "x",
    bluesky.extract: "bluesky",
    twitch.extract: "twitch",
    telegram.extract: "telegram",
    substack.extract: "substack",
    generic.extract: "web",
}


def _platform_of(extractor: Extractor, page: Page) -> Platform:
    """Return the platform an extractor reports for ``page`` (without reading the page)."""
    if extractor is linkinbio.extract:
        return linkinbio.platform_of(page)
    return _PLATFORMS.get(extractor, "web")


def extract_profile(url: str, html: str) -> CreatorProfile:
    """Extract a creator profile from a saved page. Pure: no network, no disk. Never raises.

    Each extractor already reads every page source on its own, so malformed data in one (a
    truncated JSON blob, an unexpected shape) does not lose the others. Should an extractor
    still fail, the page yields an empty profile of its platform rather than an exception.

    Args:
        url (str): URL the page was fetched from (decides the platform; "" if unknown).
        html (str): the page's HTML.

    Returns:
        CreatorProfile: what the page says about the creator; empty fields are None/[].
    """
    page = Page(url, html)
    extractor = extractor_for(page)
    try:
        return extractor(page)
    except Exception:
        logger.warning("extractor failed on %s; returning an empty profile", url, exc_info=True)
        return ProfileBuilder(_platform_of(extractor, page), Page(url, "")).build()
