"""TikTok profile pages (``tiktok.com/@handle``).

Page data read, first found wins:

- ``<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">`` (2023-):
  ``__DEFAULT_SCOPE__["webapp.user-detail"].userInfo`` = ``{user, stats, statsV2}``;
- ``SIGI_STATE`` (2021-2023, as ``<script id="SIGI_STATE">`` or ``window['SIGI_STATE'] =``):
  ``UserModule.users[<uniqueId>]`` and ``UserModule.stats[<uniqueId>]``;
- ``__NEXT_DATA__`` (2020): ``props.pageProps.userInfo``;
- meta tags when none of these is present.

Fields:

- platform_user_id: ``user.id``; handle: ``user.uniqueId`` (else the URL/og:title ``@handle``);
- display_name: ``user.nickname`` (else og:title before " (@handle)");
- bio: ``user.signature``; avatar_url: ``user.avatarLarger`` > ``avatarMedium`` >
  ``avatarThumb`` (else ``og:image``);
- followers / following / likes / posts: ``statsV2`` (exact, strings) ``followerCount``,
  ``followingCount``, ``heartCount`` (or ``heart``), ``videoCount``; each falls back to ``stats``
  (numbers, which newer pages round);
- verified: ``user.verified``; is_business_account: ``user.commerceUserInfo.commerceUser``;
  category: ``user.commerceUserInfo.category``;
- external_links: ``user.bioLink.link`` (a bare host such as "twitch.tv/x" is given https://);
- emails: addresses in the signature.
"""

import re
from typing import Any

from app.scraping.extractors.base import Page, ProfileBuilder, clean_text, dig, find_emails
from app.scraping.models import CreatorProfile

_HANDLE_IN_PATH = re.compile(r"/@([^/?#]+)")
_TITLE_RE = re.compile(r"^(.*?)\s*\(@([^)]+)\)")
_STAT_FIELDS = (
    ("followers", ("followerCount",)),
    ("following", ("followingCount",)),
    ("likes", ("heartCount", "heart")),
    ("posts", ("videoCount",)),
)


def _user_info(page: Page, handle: str | None) -> tuple[dict[str, Any], str] | None:
    """Find ``{user, stats, statsV2}`` in whichever embedded JSON the page has."""
    universal = page.script_json("__UNIVERSAL_DATA_FOR_REHYDRATION__")
    info = dig(universal, "__DEFAULT_SCOPE__", "webapp.user-detail", "userInfo")
    if isinstance(info, dict) and info.get("user"):
        return info, "__UNIVERSAL_DATA_FOR_REHYDRATION__"
    sigi = page.script_json("SIGI_STATE")
    if sigi is None:
        sigi = page.assigned_json(r"window\[['\"]SIGI_STATE['\"]\]\s*=\s*")
    users = dig(sigi, "UserModule", "users")
    if isinstance(users, dict) and users:
        key = dig(sigi, "UserPage", "uniqueId") or handle
        if key not in users:
            key = next(iter(users))
        stats = dig(sigi, "UserModule", "stats", key)
        return {"user": users[key], "stats": stats}, "SIGI_STATE"
    info = dig(page.script_json("__NEXT_DATA__"), "props", "pageProps", "userInfo")
    if isinstance(info, dict) and info.get("user"):
        return info, "__NEXT_DATA__"
    return None


def extract(page: Page) -> CreatorProfile:
    """Extract a TikTok profile.

    Args:
        page (Page): the saved profile page.

    Returns:
        CreatorProfile: the profile (platform "tiktok").
    """
    profile = ProfileBuilder("tiktok", page)
    url_handle = _HANDLE_IN_PATH.search(page.path)
    found = _user_info(page, url_handle.group(1) if url_handle else None)
    if found:
        info, source = found
        user = info.get("user") or {}
        profile.set("platform_user_id", clean_text(str(user.get("id") or "")), source)
        profile.set("handle", user.get("uniqueId"), source)
        profile.set("display_name", user.get("nickname"), source)
        profile.set("bio", user.get("signature"), source)
        for key in ("avatarLarger", "avatarMedium", "avatarThumb"):
            profile.set("avatar_url", user.get(key), source)
        if isinstance(user.get("verified"), bool):
            profile.set("verified", user["verified"], source)
        commerce = user.get("commerceUserInfo") or {}
        if isinstance(commerce.get("commerceUser"), bool):
            profile.set("is_business_account", commerce["commerceUser"], source)
        profile.set("category", commerce.get("category"), source)
        for field, keys in _STAT_FIELDS:
            for stats_key in ("statsV2", "stats"):
                for key in keys:
                    profile.set_count(field, dig(info, stats_key, key), f"{source}.{stats_key}")
        profile.add_links([dig(user, "bioLink", "link")], f"{source}.bioLink")
        profile.add_emails(find_emails(user.get("signature")), f"{source}.signature")

    title = _TITLE_RE.match(page.meta_text("og:title", "twitter:title") or "")
    if title:
        profile.set("display_name", title.group(1), "og:title")
        profile.set("handle", title.group(2), "og:title")
    profile.set("handle", url_handle.group(1) if url_handle else None, "url")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")
    handle = profile.get("handle")
    return profile.build(f"https://www.tiktok.com/@{handle}" if handle else None)
