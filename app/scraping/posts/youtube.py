"""YouTube posts: Data API v3 uploads playlist plus ``videos.list`` (source ``youtube_data_api``).

Needs ``YOUTUBE_API_KEY`` (sent in the ``X-Goog-Api-Key`` header, never in a URL). Requests:

1. ``channels.list`` (``part=contentDetails``, by handle, channel id or legacy username as the
   profile source selects it): the channel's uploads playlist
   (``contentDetails.relatedPlaylists.uploads``; else ``UU`` + the channel id after ``UC``);
2. ``playlistItems.list`` (``part=snippet,contentDetails``, ``maxResults`` = limit): the newest
   uploads: id (``resourceId.videoId``), title, caption (``description``), published_at
   (``contentDetails.videoPublishedAt``, else ``snippet.publishedAt``), thumbnail_url;
3. ``videos.list`` (``part=snippet,contentDetails,statistics,liveStreamingDetails``) for those
   ids: views / likes / comments (``statistics.*Count``; absent when the owner hides them),
   duration_s (``contentDetails.duration``, ISO 8601), and the type: ``live`` while a broadcast
   is live or upcoming, ``stream`` for a past broadcast, ``short`` for 60 s or less, else
   ``video``. A video missing from the answer keeps null metrics.

YouTube shows no shares. Errors as the profile source (``quotaExceeded`` pauses it until
midnight Pacific time, and the videos tab is read instead: ``youtube_page``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from app.scraping.posts.base import Post, PostsPage, PostsSource, count, dig, text, timestamp
from app.scraping.sources import youtube_data_api as channels
from app.scraping.sources.base import Client, Credentials, Kind, SourceFailed, Target, json_body

NAME = "youtube_data_api"
API = "https://www.googleapis.com/youtube/v3"
_DURATION = re.compile(
    r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
SHORT_MAX_S = 60


def iso_duration(value: Any) -> int | None:
    """Seconds of an ISO 8601 duration such as ``PT21M7S`` (None if it is not one)."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value != "P" else None
    if match is None:
        return None
    d, h, m, s = (float(match.group(k) or 0) for k in "dhms")
    return round(((d * 24 + h) * 60 + m) * 60 + s)


def uploads_playlist(body: Any) -> str:
    """The uploads playlist id of a ``channels.list`` answer (pure); no items is ``not_found``."""
    if not isinstance(body, dict) or body.get("kind") != "youtube#channelListResponse":
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    channel = dig(body, "items", 0)
    if not isinstance(channel, dict):
        raise SourceFailed(Kind.NOT_FOUND, "channel_not_found")
    uploads = text(dig(channel, "contentDetails", "relatedPlaylists", "uploads"))
    channel_id = str(channel.get("id") or "")
    if uploads is None and channel_id.startswith("UC"):
        uploads = "UU" + channel_id[2:]
    if uploads is None:
        raise SourceFailed(Kind.BROKEN, "no_uploads_playlist")
    return uploads


def _thumbnail(snippet: dict[str, Any]) -> str | None:
    thumbs = snippet.get("thumbnails") or {}
    for size in ("maxres", "standard", "high", "medium", "default"):
        url = text(dig(thumbs, size, "url"))
        if url:
            return url
    return None


def parse_playlist(body: Any) -> list[Post]:
    """The uploads of a ``playlistItems.list`` answer, without metrics yet (pure)."""
    if not isinstance(body, dict) or body.get("kind") != "youtube#playlistItemListResponse":
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    posts = []
    for item in body.get("items") or []:
        snippet = dig(item, "snippet") or {}
        video_id = text(dig(snippet, "resourceId", "videoId")) or text(
            dig(item, "contentDetails", "videoId")
        )
        if video_id is None:
            continue
        published = timestamp(dig(item, "contentDetails", "videoPublishedAt"))
        posts.append(
            Post(
                id=video_id,
                url=f"https://www.youtube.com/watch?v={video_id}",
                published_at=published or timestamp(snippet.get("publishedAt")),
                type="video",
                title=text(snippet.get("title")),
                caption=text(snippet.get("description")),
                thumbnail_url=_thumbnail(snippet),
            )
        )
    return posts


def _kind(video: dict[str, Any], duration: int | None) -> str:
    if dig(video, "snippet", "liveBroadcastContent") in ("live", "upcoming"):
        return "live"
    if isinstance(video.get("liveStreamingDetails"), dict):
        return "stream"
    if duration is not None and duration <= SHORT_MAX_S:
        return "short"
    return "video"


def add_statistics(posts: list[Post], body: Any) -> list[Post]:
    """``posts`` with the metrics, duration and type of a ``videos.list`` answer (pure)."""
    if not isinstance(body, dict) or body.get("kind") != "youtube#videoListResponse":
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    videos = {v.get("id"): v for v in body.get("items") or [] if isinstance(v, dict)}
    merged = []
    for post in posts:
        video = videos.get(post.id)
        if video is None:
            merged.append(post)
            continue
        stats = video.get("statistics") or {}
        duration = iso_duration(dig(video, "contentDetails", "duration"))
        merged.append(
            post.model_copy(
                update={
                    "views": count(stats.get("viewCount")),
                    "likes": count(stats.get("likeCount")),
                    "comments": count(stats.get("commentCount")),
                    "duration_s": duration,
                    "type": _kind(video, duration),
                }
            )
        )
    return merged


class YouTubePosts(PostsSource):
    """Uploads playlist and ``videos.list`` statistics (needs ``YOUTUBE_API_KEY``)."""

    name = NAME
    platform = "youtube"
    endpoint = f"GET {API}/playlistItems (uploads) + GET {API}/videos (statistics)"
    credentials = ("YOUTUBE_API_KEY",)

    def _get(self, client: Client, credentials: Credentials, url: str) -> Any:
        response = client.request(url, headers={"X-Goog-Api-Key": credentials.youtube_api_key})
        if response.status != 200:
            failure = channels.error_of(response)
            if failure.reason == "quota_exceeded":
                reset = channels.next_quota_reset(datetime.now(channels.PACIFIC))
                channels.PAUSES.pause(channels.NAME, reset.timestamp())
            raise failure
        return json_body(response)

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The newest uploads with their statistics; raises ``SourceFailed``."""
        if channels.PAUSES.paused_for(channels.NAME) > 0:
            raise SourceFailed(Kind.RATE_LIMITED, "quota_exceeded")
        selector = channels.lookup_params(target)
        if selector is None:
            raise SourceFailed(Kind.UNSUPPORTED, "no_api_lookup_for_url")
        query = urlencode({"part": "contentDetails", **selector})
        channels_body = self._get(client, credentials, f"{API}/channels?{query}")
        playlist = uploads_playlist(channels_body)
        query = urlencode(
            {"part": "snippet,contentDetails", "playlistId": playlist, "maxResults": limit}
        )
        posts = parse_playlist(self._get(client, credentials, f"{API}/playlistItems?{query}"))
        if posts:
            query = urlencode(
                {
                    "part": "snippet,contentDetails,statistics,liveStreamingDetails",
                    "id": ",".join(p.id for p in posts),
                }
            )
            posts = add_statistics(posts, self._get(client, credentials, f"{API}/videos?{query}"))
        return PostsPage(posts, None, NAME, text(dig(channels_body, "items", 0, "id")))
