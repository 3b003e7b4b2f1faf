"""TikTok profile pages (``tiktok.com/@handle``).

Page data read, first found wins:

- ``<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">`` (2023-):
  ``__DEFAULT_SCOPE__["webapp.user-detail"].userInfo`` = ``{user, stats, statsV2}``;
- ``SIGI_STATE`` (2021-2023, as ``<script id="SIGI_STATE">`` or ``window['SIGI_STATE'] =``):
  ``UserModule.users[<uniqueId>]`` and ``UserModule.stats[<uniqueId>]``;
- ``__NEXT_DATA__`` (2020): ``props.pageProps.userInfo``, or on 2019-2020 pages
  ``props.pageProps.userData`` = ``{userId, uniqueId, nickName, signature, covers, following,
  fans, heart, video, verified}`` (read as the same fields);
- meta tags when none of these is present: ``og:title``/``<title>`` "Name (@handle) | TikTok",
  ``og:image``, and the counts of ``description`` ("Name (@handle) on TikTok | 3.9M Likes.
  783.4K Followers. ..."), which TikTok rounds.

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
from urllib.parse import unquote

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    clean_text,
    dig,
    find_emails,
    tolerant,
)
from app.scraping.models import CreatorProfile

_HANDLE_IN_PATH = re.compile(r"/@([^/?#]+)")
_TITLE_RE = re.compile(r"^(.*?)\s*\(@([^)]+)\)")
# "| 3.9M Likes. 783.4K Followers. 12 Following." (English meta description).
_META_COUNT_RE = re.compile(
    r"(\d[\d.,]*\s*[KMB]?)\s+(Likes|Followers|Following|Videos)\b", re.IGNORECASE
)
_META_FIELDS = {"likes": "likes", "followers": "followers", "following": "following"}
_META_FIELDS["videos"] = "posts"
# 2019-2020 ``userData`` keys -> the user/stats keys read below.
_USER_DATA_KEYS = {"userId": "id", "nickName": "nickname", "coversMedium": "avatarMedium"}
_USER_DATA_STATS = {"fans": "followerCount", "following": "followingCount"}
_USER_DATA_STATS |= {"heart": "heartCount", "video": "videoCount"}
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
    props = dig(page.script_json("__NEXT_DATA__"), "props", "pageProps")
    info = dig(props, "userInfo")
    if isinstance(info, dict) and info.get("user"):
        return info, "__NEXT_DATA__"
    data = dig(props, "userData")
    if isinstance(data, dict) and data.get("uniqueId"):
        user = {_USER_DATA_KEYS.get(key, key): value for key, value in data.items()}
        covers = data.get("covers")
        if isinstance(covers, list) and covers:
            user.setdefault("avatarThumb", covers[0])
        stats = {new: data.get(old) for old, new in _USER_DATA_STATS.items()}
        return {"user": user, "stats": stats}, "__NEXT_DATA__.userData"
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
    found = None
    with tolerant("embedded JSON"):
        found = _user_info(page, url_handle.group(1) if url_handle else None)
    if found:
        with tolerant(found[1]):
            _read_info(*found, profile)

    title = _TITLE_RE.match(page.meta_text("og:title", "twitter:title") or page.title or "")
    if title:
        profile.set("display_name", title.group(1), "og:title")
        profile.set("handle", title.group(2), "og:title")
    profile.set("handle", unquote(url_handle.group(1)) if url_handle else None, "url")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")
    description = page.meta_text("description", "og:description") or ""
    for number, label in _META_COUNT_RE.findall(description):
        profile.set_count(_META_FIELDS[label.lower()], number, "description")
    handle = profile.get("handle")
    return profile.build(f"https://www.tiktok.com/@{handle}" if handle else None)


def _read_info(info: dict[str, Any], source: str, profile: ProfileBuilder) -> None:
    """Copy ``{user, stats, statsV2}`` into the profile."""
    user = info.get("user")
    if isinstance(user, dict):
        profile.set("platform_user_id", clean_text(str(user.get("id") or "")), source)
        profile.set("handle", user.get("uniqueId"), source)
        profile.set("display_name", user.get("nickname"), source)
        profile.set("bio", user.get("signature"), source)
        for key in ("avatarLarger", "avatarMedium", "avatarThumb"):
            profile.set("avatar_url", user.get(key), source)
        profile.set("verified", user.get("verified"), source)
        commerce = user.get("commerceUserInfo")
        if isinstance(commerce, dict):
            profile.set("is_business_account", commerce.get("commerceUser"), source)
            profile.set("category", commerce.get("category"), source)
    if isinstance(info, dict):
        for field, keys in _STAT_FIELDS:
            for stats_key in ("statsV2", "stats"):
                for key in keys:
                    profile.set_count(field, dig(info, stats_key, key), f"{source}.{stats_key}")
    if isinstance(user, dict):
        profile.add_links([dig(user, "bioLink", "link")], f"{source}.bioLink")
        profile.add_emails(find_emails(user.get("signature")), f"{source}.signature")
