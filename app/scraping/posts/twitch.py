"""Twitch posts: Helix videos (VODs, highlights, uploads) (source ``twitch_helix``).

Needs ``TWITCH_CLIENT_ID`` and ``TWITCH_CLIENT_SECRET``: ``GET
https://api.twitch.tv/helix/users?login=<login>`` (the user id) and ``GET
https://api.twitch.tv/helix/videos?user_id=<id>&first=<n>&sort=time`` with ``Client-Id`` and
``Authorization: Bearer``, through the profile source's :func:`twitch_helix.helix_get` (one app
access token cached per client id, shared with profile lookups, renewed once on 401).

Each video gives: id, url, published_at, title, caption (``description``), views
(``view_count``), duration_s (``duration`` such as ``3h8m33s``), thumbnail_url
(``%{width}x%{height}`` filled with 640x360; empty while processing) and type (``stream`` for
an ``archive`` VOD, else ``video``). Twitch shows no likes, comments or shares, so the
engagement rate is null.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from app.scraping.posts.base import Post, PostsPage, PostsSource, count, dig, text, timestamp
from app.scraping.sources import twitch_helix
from app.scraping.sources.base import Client, Credentials, Kind, SourceFailed, Target, json_body

NAME = twitch_helix.NAME
VIDEOS_URL = "https://api.twitch.tv/helix/videos"
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def duration(value: Any) -> int | None:
    """Seconds of a Helix duration such as ``3h8m33s`` or ``50s`` (None if it is not one)."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if match is None:
        return None
    h, m, s = (int(g or 0) for g in match.groups())
    return (h * 60 + m) * 60 + s


def parse_videos(body: Any) -> list[Post]:
    """The posts of a Helix ``GET /videos`` answer (pure)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    posts = []
    for video in data:
        if not isinstance(video, dict) or not video.get("id"):
            continue
        thumb = text(video.get("thumbnail_url"))
        posts.append(
            Post(
                id=str(video["id"]),
                url=text(video.get("url")),
                published_at=timestamp(video.get("published_at"))
                or timestamp(video.get("created_at")),
                type="stream" if video.get("type") == "archive" else "video",
                title=text(video.get("title")),
                caption=text(video.get("description")),
                views=count(video.get("view_count")),
                duration_s=duration(video.get("duration")),
                thumbnail_url=thumb.replace("%{width}x%{height}", "640x360") if thumb else None,
            )
        )
    return posts


class TwitchPosts(PostsSource):
    """Helix videos of the channel (needs ``TWITCH_CLIENT_ID`` and ``TWITCH_CLIENT_SECRET``)."""

    name = NAME
    platform = "twitch"
    endpoint = f"GET {VIDEOS_URL} (app access token)"
    credentials = ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET")

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The channel's newest videos; raises ``SourceFailed``."""
        login = twitch_helix.login_of(target)
        if login is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_channel_url")
        users_url = f"{twitch_helix.USERS_URL}?{urlencode({'login': login})}"
        users = twitch_helix.helix_get(client, credentials, users_url)
        user_id = text(dig(json_body(users), "data", 0, "id"))
        if user_id is None:
            raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
        query = urlencode({"user_id": user_id, "first": min(limit, 100), "sort": "time"})
        videos = twitch_helix.helix_get(client, credentials, f"{VIDEOS_URL}?{query}")
        return PostsPage(parse_videos(json_body(videos)), None, NAME, user_id)
