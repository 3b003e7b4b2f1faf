"""Recent posts of a creator: per platform, an ordered chain of posts sources.

``lookup_posts(url, settings, limit)`` is the entry point of the API and the job workers;
:data:`POSTS_CHAINS` lists each platform's sources (the same failure kinds and fall-through as
the profile sources, ``app.scraping.sources``); ``posts_catalogue(credentials)`` describes them
for ``GET /v1/creators/platforms``. A platform without a chain has no posts source
(``PostsNotAvailable``, 404 ``posts_not_available``).
"""

from __future__ import annotations

from typing import Any

from app.errors import NotFound
from app.scraping.fetch import FetchSettings
from app.scraping.posts.base import Post, PostsPage, PostsSource, run_posts_chain
from app.scraping.posts.bluesky import BlueskyPosts
from app.scraping.posts.instagram import InstagramPage, InstagramWebApi
from app.scraping.posts.mastodon import MastodonPosts
from app.scraping.posts.tiktok import TikTokPage
from app.scraping.posts.twitch import TwitchPosts
from app.scraping.posts.x import XPosts
from app.scraping.posts.youtube import YouTubePosts
from app.scraping.posts.youtube_page import YouTubeVideosPage
from app.scraping.sources import target_of
from app.scraping.sources.base import Credentials
from app.scraping.sources.chain import credentials_of
from app.scraping.urls import identify

__all__ = [
    "POSTS_CHAINS",
    "Post",
    "PostsNotAvailable",
    "PostsPage",
    "chain_for",
    "lookup_posts",
    "posts_catalogue",
]

#: platform -> its posts sources, in the order they are tried.
POSTS_CHAINS: dict[str, tuple[PostsSource, ...]] = {
    "youtube": (YouTubePosts(), YouTubeVideosPage()),
    "instagram": (InstagramWebApi(), InstagramPage()),
    "bluesky": (BlueskyPosts(),),
    "mastodon": (MastodonPosts(),),
    "x": (XPosts(),),
    "tiktok": (TikTokPage(),),
    "twitch": (TwitchPosts(),),
}


class PostsNotAvailable(NotFound):
    """404 ``posts_not_available``: this platform has no source for posts (never charged)."""

    code = "posts_not_available"
    default_message = "Recent posts are not available for this platform."


def chain_for(platform: str, credentials: Credentials) -> tuple[PostsSource, ...]:
    """The posts sources of ``platform``; raises ``PostsNotAvailable`` when it has none, or
    none is active on this server (all need credentials it does not have)."""
    chain = POSTS_CHAINS.get(platform, ())
    if not any(source.active(credentials) for source in chain):
        raise PostsNotAvailable(details={"platform": platform})
    return chain


def lookup_posts(url: str, settings: FetchSettings, limit: int) -> PostsPage:
    """At most ``limit`` recent posts of the creator at ``url``, newest first.

    ``settings`` bound every request and their ``deadline`` covers the whole lookup. Raises
    ``PostsNotAvailable`` (404) for a platform without posts sources, else the chain's errors
    (see ``app.scraping.posts.base.run_posts_chain``).
    """
    chain = chain_for(identify(url).platform, credentials_of(settings))
    return run_posts_chain(chain, target_of(url), settings, limit)


def posts_catalogue(credentials: Credentials) -> dict[str, dict[str, Any]]:
    """Per platform: whether posts are available here and the posts sources in order."""
    return {
        platform: {
            "available": any(source.active(credentials) for source in chain),
            "sources": [
                {
                    "name": source.name,
                    "endpoint": source.endpoint,
                    "credentials": list(source.credentials),
                    "active": source.active(credentials),
                }
                for source in chain
            ],
        }
        for platform, chain in POSTS_CHAINS.items()
    }
