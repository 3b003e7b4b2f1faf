"""TikTok posts: the item list in the profile page's rehydration JSON (source ``page``).

Endpoint: the profile page (``GET https://www.tiktok.com/@<name>``, HTML), no credentials. The
2024-and-later page embeds ``<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">`` whose
``__DEFAULT_SCOPE__["webapp.user-detail"]`` holds ``userInfo`` (``statsV2.followerCount``, the
exact follower count) and ``itemList``; older pages embed ``SIGI_STATE`` with ``ItemModule``.
The item list is often empty in the server-rendered page (TikTok loads it later in the browser):
then there are no posts and the call is refunded. Each item gives: id, url, published_at
(``createTime``), caption (``desc``), views / likes / comments / shares (``stats.playCount``,
``diggCount``, ``commentCount``, ``shareCount``), duration_s (``video.duration``),
thumbnail_url (``video.cover``) and type (``carousel`` for photo posts, else ``video``).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from app.scraping.posts.base import Post, PostsPage, PostsSource, count, dig, text, timestamp
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    SourceFailed,
    Target,
    status_failure,
)

_SCRIPT = re.compile(
    r'<script[^>]*id="(__UNIVERSAL_DATA_FOR_REHYDRATION__|SIGI_STATE)"[^>]*>(.*?)</script>', re.S
)


def _stat(item: dict[str, Any], name: str) -> int | None:
    exact = count(dig(item, "statsV2", name))
    return exact if exact is not None else count(dig(item, "stats", name))


def parse_item(item: dict[str, Any], handle: str) -> Post:
    """One item of the list as a post (pure)."""
    author = text(dig(item, "author", "uniqueId")) or text(item.get("author")) or handle
    photo = isinstance(item.get("imagePost"), dict)
    return Post(
        id=str(item["id"]),
        url=f"https://www.tiktok.com/@{author}/{'photo' if photo else 'video'}/{item['id']}",
        published_at=timestamp(item.get("createTime")),
        type="carousel" if photo else "video",
        caption=text(item.get("desc")),
        views=_stat(item, "playCount"),
        likes=_stat(item, "diggCount"),
        comments=_stat(item, "commentCount"),
        shares=_stat(item, "shareCount"),
        duration_s=count(dig(item, "video", "duration")) or None,
        thumbnail_url=text(dig(item, "video", "cover")),
    )


def parse_page(html: str, handle: str) -> PostsPage:
    """Items and follower count of a profile page (pure); no rehydration JSON is ``refused``."""
    for name, raw in _SCRIPT.findall(html):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if name == "SIGI_STATE":
            items = list((data.get("ItemModule") or {}).values())
            followers = count(dig(data, "UserModule", "stats", handle, "followerCount"))
        else:
            detail = dig(data, "__DEFAULT_SCOPE__", "webapp.user-detail")
            if not isinstance(detail, dict):
                continue
            items = detail.get("itemList") or []
            followers = count(dig(detail, "userInfo", "statsV2", "followerCount"))
            if followers is None:
                followers = count(dig(detail, "userInfo", "stats", "followerCount"))
        posts = [parse_item(i, handle) for i in items if isinstance(i, dict) and i.get("id")]
        return PostsPage(posts, followers, "page")
    raise SourceFailed(Kind.REFUSED, "empty_page")


class TikTokPage(PostsSource):
    """The profile page's item list, when the page carries it (no credentials)."""

    name = "page"
    platform = "tiktok"
    endpoint = "GET https://www.tiktok.com/@<name> (__UNIVERSAL_DATA_FOR_REHYDRATION__ itemList)"

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The items of the profile page; raises ``SourceFailed``."""
        if not target.segments or not target.segments[0].startswith("@"):
            raise SourceFailed(Kind.UNSUPPORTED, "no_handle_in_url")
        handle = target.segments[0][1:]
        url = f"https://www.tiktok.com/@{quote(handle, safe='')}"
        response = client.request(url, headers={"Accept": "text/html"})
        if response.status != 200:
            raise status_failure(response.status)
        return parse_page(response.body.decode("utf-8", "replace"), handle)
