"""Instagram posts: the recent media in the profile JSON (sources ``instagram_web_api``, ``page``).

1. ``instagram_web_api``: ``GET https://i.instagram.com/api/v1/users/web_profile_info/
   ?username=<name>`` with the web app's ``X-IG-App-ID`` header, the JSON the website loads for
   a profile page (no credentials). A login wall (401/403, or HTML instead of JSON) is refused.
2. ``page``: the profile page itself, when it embeds the same user object
   (``window._sharedData`` -> ``entry_data.ProfilePage[0].graphql.user``).

From the user object: the exact follower count (``edge_followed_by.count``) and, per node of
``edge_owner_to_timeline_media.edges`` (the 12 newest posts): id, url (``/p/<shortcode>/``),
published_at (``taken_at_timestamp``), caption, likes (``edge_liked_by`` or
``edge_media_preview_like``), comments (``edge_media_to_comment``), views
(``video_view_count``, videos only), type (``GraphImage`` image, ``GraphVideo`` video,
``GraphSidecar`` carousel), duration_s (``video_duration``) and thumbnail_url. Instagram shows
no shares.
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

API_NAME = "instagram_web_api"
ENDPOINT = "https://i.instagram.com/api/v1/users/web_profile_info/"
APP_ID = "936619743392459"  # the public id of Instagram's own web app, not a credential
_SHARED = re.compile(r"window\._sharedData\s*=\s*(\{.*?\});\s*</script>", re.S)
_TYPES = {"GraphImage": "image", "GraphVideo": "video", "GraphSidecar": "carousel"}


def parse_user(user: Any) -> PostsPage:
    """Posts and followers of an Instagram web user object (pure)."""
    if not isinstance(user, dict) or "edge_owner_to_timeline_media" not in user:
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    posts = []
    for edge in dig(user, "edge_owner_to_timeline_media", "edges") or []:
        node = dig(edge, "node")
        if not isinstance(node, dict) or not node.get("id"):
            continue
        kind = _TYPES.get(str(node.get("__typename")), "video" if node.get("is_video") else "image")
        likes = count(dig(node, "edge_liked_by", "count"))
        if likes is None:
            likes = count(dig(node, "edge_media_preview_like", "count"))
        seconds = node.get("video_duration")
        shortcode = text(node.get("shortcode"))
        posts.append(
            Post(
                id=str(node["id"]),
                url=f"https://www.instagram.com/p/{shortcode}/" if shortcode else None,
                published_at=timestamp(node.get("taken_at_timestamp")),
                type=kind,
                caption=text(dig(node, "edge_media_to_caption", "edges", 0, "node", "text")),
                views=count(node.get("video_view_count")) if kind == "video" else None,
                likes=likes,
                comments=count(dig(node, "edge_media_to_comment", "count")),
                duration_s=round(seconds) if isinstance(seconds, int | float) else None,
                thumbnail_url=text(node.get("thumbnail_src")) or text(node.get("display_url")),
            )
        )
    followers = count(dig(user, "edge_followed_by", "count"))
    return PostsPage(posts, followers, API_NAME, text(user.get("id")))


def parse_web_profile_info(body: Any) -> PostsPage:
    """A ``web_profile_info`` answer (``{"data": {"user": ...}}``); no user is ``not_found``."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    user = body["data"].get("user")
    if user is None:
        raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
    return parse_user(user)


def parse_page(html: str) -> PostsPage:
    """The user object a profile page embeds in ``window._sharedData`` (pure)."""
    match = _SHARED.search(html)
    if match is None:
        raise SourceFailed(Kind.REFUSED, "empty_page")
    try:
        shared = json.loads(match.group(1))
    except ValueError:
        raise SourceFailed(Kind.BROKEN, "malformed_body") from None
    user = dig(shared, "entry_data", "ProfilePage", 0, "graphql", "user")
    if user is None:
        raise SourceFailed(Kind.REFUSED, "empty_page")
    page = parse_user(user)
    return PostsPage(page.posts, page.followers, "page", page.platform_user_id)


def _username(target: Target) -> str:
    if not target.segments:
        raise SourceFailed(Kind.UNSUPPORTED, "no_username_in_url")
    return target.segments[0]


class InstagramWebApi(PostsSource):
    """``web_profile_info``: the JSON Instagram's website loads (no credentials)."""

    name = API_NAME
    platform = "instagram"
    endpoint = f"GET {ENDPOINT}?username=<name>"

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The recent media of the URL's account; raises ``SourceFailed``."""
        response = client.request(
            f"{ENDPOINT}?username={quote(_username(target), safe='')}",
            headers={"X-IG-App-ID": APP_ID},
        )
        if response.status == 404:
            raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
        if response.status != 200:
            raise status_failure(response.status)
        if response.content_type != "application/json":
            raise SourceFailed(Kind.REFUSED, "login_wall")
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            raise SourceFailed(Kind.BROKEN, "malformed_body") from None
        return parse_web_profile_info(body)


class InstagramPage(PostsSource):
    """The profile page, when it embeds the user object (older pages, some clients)."""

    name = "page"
    platform = "instagram"
    endpoint = "GET https://www.instagram.com/<name>/ (window._sharedData)"

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The recent media embedded in the profile page; raises ``SourceFailed``."""
        url = f"https://www.instagram.com/{quote(_username(target), safe='')}/"
        response = client.request(url, headers={"Accept": "text/html"})
        if response.status != 200:
            raise status_failure(response.status)
        return parse_page(response.body.decode("utf-8", "replace"))
