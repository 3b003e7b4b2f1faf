"""Recent posts of a creator: fetch through the posts sources, shape the API answer.

Shared by the API and the job workers; no Flask request state here (callers pass settings).
Every call fetches up to :data:`FETCH_LIMIT` posts, so one cache entry answers any ``limit``;
the answer holds the newest ``limit`` posts and the aggregates over exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.scraping.fetch import FetchSettings
from app.scraping.posts import Post, lookup_posts
from app.scraping.posts.aggregates import aggregate

FETCH_LIMIT = 50
#: The sample the growth history's ``avg_views`` is computed over (the default ``limit``).
GROWTH_SAMPLE = 12


@dataclass(frozen=True)
class PostsResult:
    """Fetched posts as cached: ``data`` is ``{"posts": [...], "followers", "source",
    "platform_user_id"}`` (entries cached before platform_user_id was kept lack that key)."""

    data: dict[str, Any]
    fetched_at: datetime

    @property
    def empty(self) -> bool:
        """True when the creator has no posts to show."""
        return not self.data["posts"]


def fetch(url: str, settings: FetchSettings) -> PostsResult:
    """Fetch up to ``FETCH_LIMIT`` posts of the creator at ``url`` (no database access).

    Raises 404 ``posts_not_available`` and the source chain's errors (see
    ``app.scraping.posts.lookup_posts``).
    """
    page = lookup_posts(url, settings, FETCH_LIMIT)
    data = {
        "posts": [p.model_dump(mode="json") for p in page.posts],
        "followers": page.followers,
        "source": page.source,
        "platform_user_id": page.platform_user_id,
    }
    return PostsResult(data, datetime.now(UTC))


def with_followers(result: PostsResult, followers: int | None) -> PostsResult:
    """``result`` with ``followers`` filled in from elsewhere (the cached profile) when the
    posts source gave none."""
    if result.data["followers"] is not None or followers is None:
        return result
    return PostsResult({**result.data, "followers": followers}, result.fetched_at)


def growth_avg_views(platform: str, result: PostsResult) -> float | None:
    """Mean views of the newest ``GROWTH_SAMPLE`` posts (the growth history's ``avg_views``)."""
    posts = [Post(**p) for p in result.data["posts"][:GROWTH_SAMPLE]]
    return aggregate(platform, posts, result.data["followers"])["avg_views"]


def answer(platform: str, handle: str, result: PostsResult, limit: int) -> dict[str, Any]:
    """The API's ``data``: the newest ``limit`` posts and the aggregates over them."""
    posts = [Post(**p) for p in result.data["posts"][:limit]]
    return {
        "platform": platform,
        "handle": handle,
        "source": result.data["source"],
        "posts": [p.model_dump() for p in posts],
        "aggregates": aggregate(platform, posts, result.data["followers"]),
    }
