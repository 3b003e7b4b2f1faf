"""Twitch posts: Helix videos (VODs, highlights, uploads) (source ``twitch_helix``).

Needs ``TWITCH_CLIENT_ID`` and ``TWITCH_CLIENT_SECRET``: an app access token from ``POST
https://id.twitch.tv/oauth2/token`` (client-credentials grant), then ``GET
https://api.twitch.tv/helix/users?login=<login>`` (the user id) and ``GET
https://api.twitch.tv/helix/videos?user_id=<id>&first=<n>&sort=time`` with ``Client-Id`` and
``Authorization: Bearer``. Each video gives: id, url, published_at, title, caption
(``description``), views (``view_count``), duration_s (``duration`` such as ``3h8m33s``),
thumbnail_url (``%{width}x%{height}`` filled with 640x360; empty while processing) and type
(``stream`` for an ``archive`` VOD, else ``video``). Twitch shows no likes, comments or shares,
so the engagement rate is null.
"""

from __future__ import annotations

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
    json_body,
    status_failure,
)

NAME = "twitch_helix"
OAUTH_URL = "https://id.twitch.tv/oauth2/token"
API = "https://api.twitch.tv/helix"
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
    endpoint = f"GET {API}/videos (app access token)"
    credentials = ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET")

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The channel's newest videos; raises ``SourceFailed``."""
        if not target.segments:
            raise SourceFailed(Kind.UNSUPPORTED, "no_login_in_url")
        response = client.request(
            OAUTH_URL,
            method="POST",
            data={
                "client_id": credentials.twitch_client_id,
                "client_secret": credentials.twitch_client_secret,
                "grant_type": "client_credentials",
            },
        )
        token = text(dig(json_body(response), "access_token")) if response.status == 200 else None
        if token is None:
            # Twitch answers a bad client id or secret with 400/401/403: a refusal, not a fault.
            if response.status in (200, 400, 401, 403):
                raise SourceFailed(Kind.REFUSED, "invalid_client")
            raise status_failure(response.status)
        headers = {"Client-Id": credentials.twitch_client_id, "Authorization": f"Bearer {token}"}
        login = target.segments[0].lower()
        response = client.request(f"{API}/users?login={quote(login, safe='')}", headers=headers)
        if response.status != 200:
            raise status_failure(response.status)
        user_id = text(dig(json_body(response), "data", 0, "id"))
        if user_id is None:
            raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
        response = client.request(
            f"{API}/videos?user_id={user_id}&first={min(limit, 100)}&sort=time", headers=headers
        )
        if response.status != 200:
            raise status_failure(response.status)
        return PostsPage(parse_videos(json_body(response)), None, NAME)
