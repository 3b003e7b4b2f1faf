"""Bluesky posts: the public AppView's ``app.bsky.feed.getAuthorFeed`` (source ``bluesky_api``).

Endpoint: ``GET https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor=<handle|DID>
&limit=<n>&filter=posts_no_replies``, no credentials; then ``app.bsky.actor.getProfile`` (the
profile source's request and parser) for the exact follower count. Each ``feedViewPost`` gives:
id (the post's ``at://`` URI), url (``bsky.app/profile/<handle>/post/<rkey>``), published_at
(``record.createdAt``), caption (``record.text``), likes (``likeCount``), comments
(``replyCount``), shares (``repostCount``), type (``image``/``carousel`` for image embeds,
``video`` for video embeds, else ``text``) and thumbnail_url. Bluesky shows no view counts.
A feed item with ``reason`` ``#reasonRepost`` is someone else's post the creator reposted:
listed with ``is_repost`` and never aggregated.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.scraping.posts.base import Post, PostsPage, PostsSource, count, dig, text, timestamp
from app.scraping.sources import bluesky_api
from app.scraping.sources.base import Client, Credentials, Kind, SourceFailed, Target, json_body

NAME = "bluesky_api"
ENDPOINT = "https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed"
_REPOST = "app.bsky.feed.defs#reasonRepost"


def request_url(actor: str, limit: int) -> str:
    """The getAuthorFeed URL (pure)."""
    return f"{ENDPOINT}?actor={quote(actor, safe=':')}&limit={limit}&filter=posts_no_replies"


def post_url(uri: str, handle: str | None) -> str | None:
    """``https://bsky.app/profile/<handle>/post/<rkey>`` for an ``at://`` post URI."""
    parts = uri.split("/") if uri.startswith("at://") else []
    if len(parts) != 5 or parts[3] != "app.bsky.feed.post":
        return None
    return f"https://bsky.app/profile/{handle or parts[2]}/post/{parts[4]}"


def _media(embed: Any) -> tuple[str, str | None]:
    """(type, thumbnail) of a post view's embed (images, video, or record with media)."""
    if not isinstance(embed, dict):
        return "text", None
    kind = str(embed.get("$type") or "")
    if kind.startswith("app.bsky.embed.recordWithMedia"):
        return _media(embed.get("media"))
    if kind.startswith("app.bsky.embed.images"):
        images = embed.get("images") or []
        thumb = text(dig(images, 0, "thumb"))
        return ("carousel" if len(images) > 1 else "image"), thumb
    if kind.startswith("app.bsky.embed.video"):
        return "video", text(embed.get("thumbnail"))
    return "text", None


def parse_feed(body: Any) -> list[Post]:
    """Posts of a getAuthorFeed answer (pure); a body without ``feed`` is ``broken``."""
    feed = body.get("feed") if isinstance(body, dict) else None
    if not isinstance(feed, list):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    posts = []
    for item in feed:
        post = dig(item, "post")
        if not isinstance(post, dict) or not isinstance(post.get("uri"), str):
            continue
        record = post.get("record") or {}
        kind, thumb = _media(post.get("embed"))
        posts.append(
            Post(
                id=post["uri"],
                url=post_url(post["uri"], text(dig(post, "author", "handle"))),
                published_at=timestamp(record.get("createdAt")) or timestamp(post.get("indexedAt")),
                type=kind,
                caption=text(record.get("text")),
                likes=count(post.get("likeCount")),
                comments=count(post.get("replyCount")),
                shares=count(post.get("repostCount")),
                thumbnail_url=thumb,
                is_repost=dig(item, "reason", "$type") == _REPOST,
            )
        )
    return posts


class BlueskyPosts(PostsSource):
    """``getAuthorFeed`` plus ``getProfile`` for the follower count (no credentials)."""

    name = NAME
    platform = "bluesky"
    endpoint = f"GET {ENDPOINT} (filter=posts_no_replies)"

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The feed of the URL's actor; raises ``SourceFailed``."""
        actor = bluesky_api.actor_of(target)
        if actor is None:
            raise SourceFailed(Kind.UNSUPPORTED, "no_actor_in_url")
        response = client.request(request_url(actor, limit))
        if response.status != 200:
            raise bluesky_api.error_of(response)
        posts = parse_feed(json_body(response))
        followers = did = None
        try:
            profile_response = client.request(bluesky_api.request_url(actor))
            if profile_response.status == 200:
                profile = bluesky_api.parse(json_body(profile_response))
                followers, did = profile.followers, profile.platform_user_id
        except SourceFailed as failure:
            if failure.kind in (Kind.DEADLINE, Kind.NOT_ALLOWED):
                raise
        return PostsPage(posts, followers, NAME, did)
