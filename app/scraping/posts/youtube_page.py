"""YouTube posts without an API key: the channel's videos tab (source ``page``).

Endpoint: ``GET https://www.youtube.com/<channel path>/videos`` (HTML), in English and past the
consent wall as the profile page source requests it; no credentials. The page's
``ytInitialData`` lists the uploads as ``richItemRenderer.content.videoRenderer`` (2022-) or
``gridVideoRenderer`` (older pages, and the home tab's uploads shelf); each renderer is decoded
on its own. Per video: id (``videoId``), url, title, views (``viewCountText`` parsed in the
page's locale; a rounded figure such as "1.6K views" is left null), duration_s (the time overlay
or ``lengthText``), thumbnail_url, and type (``short`` for the SHORTS overlay, ``live`` for a
live badge or overlay, else ``video``). Videos of other channels shown on the page (a
renderer whose byline names another channel id) are skipped.

The tab shows publication times only relative to the moment it was served ("2 days ago"), so
``published_at`` is null, and likes and comments are not shown at all: ``posts_per_week`` and
the engagement rate are null from this source.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlunsplit

from app.scraping.counts import parse_count
from app.scraping.extractors.base import dig, load_json_at
from app.scraping.extractors.youtube import text_of
from app.scraping.posts.base import Post, PostsPage, PostsSource
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    SourceFailed,
    Target,
    status_failure,
)
from app.scraping.sources.page import page_request

_RENDERERS = re.compile(r'"(videoRenderer|gridVideoRenderer)":\{')
_CHANNEL_ID = re.compile(r'"(?:externalId|channelId)":"(UC[\w-]{22})"')
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})")


def videos_url(target: Target) -> str | None:
    """The channel's videos tab for a channel URL (pure); None for other YouTube URLs."""
    segments = target.segments
    if not segments:
        return None
    first = segments[0]
    if first.startswith("@"):
        path = f"/{first}/videos"
    elif first in ("channel", "c", "user") and len(segments) > 1:
        path = f"/{first}/{segments[1]}/videos"
    else:
        return None
    return urlunsplit(("https", "www.youtube.com", path, "", ""))


def clock_seconds(text: Any) -> int | None:
    """Seconds of a ``7:33:12`` / ``2:26`` time overlay (None if it is not one)."""
    match = _CLOCK.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return (hours * 60 + minutes) * 60 + seconds


def _overlay(renderer: dict[str, Any]) -> tuple[str | None, str | None]:
    """(style, text) of the renderer's time-status overlay."""
    for overlay in renderer.get("thumbnailOverlays") or []:
        status = dig(overlay, "thumbnailOverlayTimeStatusRenderer")
        if isinstance(status, dict):
            return status.get("style"), text_of(status.get("text"))
    return None, None


def _views(renderer: dict[str, Any]) -> int | None:
    parsed = parse_count(text_of(renderer.get("viewCountText")))
    if parsed is None or parsed[1]:
        return None  # absent, or only a rounded figure
    return parsed[0]


def _byline_channel(renderer: dict[str, Any]) -> str | None:
    for key in ("shortBylineText", "ownerText", "longBylineText"):
        channel = dig(renderer, key, "runs", 0, "navigationEndpoint", "browseEndpoint", "browseId")
        if isinstance(channel, str):
            return channel
    return None


def parse_video(renderer: dict[str, Any]) -> Post:
    """One ``videoRenderer``/``gridVideoRenderer`` as a post (pure)."""
    video_id = str(renderer["videoId"])
    style, clock = _overlay(renderer)
    badges = str(renderer.get("badges") or "") + str(renderer.get("thumbnailOverlays") or "")
    if style == "SHORTS":
        kind = "short"
    elif style == "LIVE" or "BADGE_STYLE_TYPE_LIVE_NOW" in badges:
        kind = "live"
    else:
        kind = "video"
    thumbnails = dig(renderer, "thumbnail", "thumbnails") or []
    return Post(
        id=video_id,
        url=f"https://www.youtube.com/watch?v={video_id}",
        type=kind,
        title=text_of(renderer.get("title")),
        caption=text_of(renderer.get("descriptionSnippet")),
        views=_views(renderer),
        duration_s=clock_seconds(clock) or clock_seconds(text_of(renderer.get("lengthText"))),
        thumbnail_url=dig(thumbnails, -1, "url") if thumbnails else None,
    )


def parse_page(html: str) -> PostsPage:
    """The channel's own videos listed in a channel page (pure); no ``ytInitialData`` is
    ``refused`` (consent or login wall)."""
    start = html.find("ytInitialData")
    if start < 0:
        raise SourceFailed(Kind.REFUSED, "empty_page")
    channel = _CHANNEL_ID.search(html, start)
    owner = channel.group(1) if channel else None
    posts: list[Post] = []
    seen: set[str] = set()
    for match in _RENDERERS.finditer(html, start):
        renderer = load_json_at(html, match.end() - 1)
        if not isinstance(renderer, dict) or not isinstance(renderer.get("videoId"), str):
            continue
        byline = _byline_channel(renderer)
        if renderer["videoId"] in seen or (owner and byline and byline != owner):
            continue
        seen.add(renderer["videoId"])
        posts.append(parse_video(renderer))
    return PostsPage(posts, None, "page")


class YouTubeVideosPage(PostsSource):
    """The channel's videos tab (no credentials)."""

    name = "page"
    platform = "youtube"
    endpoint = "GET https://www.youtube.com/<channel>/videos (HTML, ytInitialData)"

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The videos listed on the tab; raises ``SourceFailed``."""
        url = videos_url(target)
        if url is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_channel_url")
        url, headers = page_request("youtube", url)
        response = client.request(url, headers={"Accept": "text/html", **headers})
        if response.status != 200:
            raise status_failure(response.status)
        return parse_page(response.body.decode("utf-8", "replace"))
