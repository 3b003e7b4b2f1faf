"""What every posts source shares: the post model, a source's answer and the chain.

A posts source is built like a profile source (``app.scraping.sources``): a request plan sent
through the hardened fetcher by a :class:`~app.scraping.sources.base.Client` (one deadline for
the whole lookup), and pure parsers from the recorded responses to :class:`Post` rows. It
fails with the same :class:`~app.scraping.sources.base.SourceFailed` kinds, and the chain falls
through on the same kinds; the first source that answers gives the posts (posts are not merged
across sources: two sources would count the same post twice).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.scraping.fetch import FetchSettings
from app.scraping.sources.base import Client, Credentials, SourceFailed, Target
from app.scraping.sources.chain import _final_error, credentials_of, try_source

PostType = Literal["video", "short", "image", "carousel", "text", "live", "stream"]


class Post(BaseModel):
    """One post as the platform shows it. A metric the platform does not show is None, never 0."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The platform's id of the post.")
    url: str | None = Field(None, description="Public URL of the post.")
    published_at: datetime | None = Field(None, description="When it was published (UTC).")
    type: PostType = Field(
        description="video, short, image, carousel, text, live (a live or upcoming broadcast) "
        "or stream (a recorded stream, e.g. a Twitch VOD)."
    )
    title: str | None = Field(None, description="Title (videos).")
    caption: str | None = Field(None, description="Caption or text (plain text).")
    views: int | None = Field(None, description="Views or plays.")
    likes: int | None = Field(None, description="Likes (favourites on Mastodon).")
    comments: int | None = Field(None, description="Comments or replies.")
    shares: int | None = Field(None, description="Shares: reposts, retweets, boosts.")
    duration_s: int | None = Field(None, description="Duration in seconds (video only).")
    thumbnail_url: str | None = Field(None, description="Thumbnail or first image.")
    is_repost: bool = Field(
        False,
        description="True for someone else's post that the creator reposted (Bluesky); "
        "listed, but never counted in the aggregates.",
    )


@dataclass(frozen=True)
class PostsPage:
    """A source's answer: posts newest first, the follower count when the same answer has it
    (exact; None otherwise), the source's name, and the platform's id of the account when the
    source learnt it (None otherwise)."""

    posts: list[Post]
    followers: int | None
    source: str
    platform_user_id: str | None = None


class PostsSource:
    """One way to get one platform's recent posts. Subclasses set the class attributes and
    implement :meth:`fetch` (requests through ``client``, then pure parsers)."""

    name: ClassVar[str]
    platform: ClassVar[str]
    endpoint: ClassVar[str]
    credentials: ClassVar[tuple[str, ...]] = ()

    def active(self, credentials: Credentials) -> bool:
        """Whether this server has what the source needs (its credentials)."""
        return all(getattr(credentials, name.lower()) for name in self.credentials)

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """At most ``limit`` recent posts, newest first, or raise ``SourceFailed``."""
        raise NotImplementedError


def run_posts_chain(
    sources: Sequence[PostsSource], target: Target, settings: FetchSettings, limit: int
) -> PostsPage:
    """Try ``sources`` in order within ``settings.deadline``; the first answer wins.

    Falls through exactly as the profile chain does (not configured, refused, rate-limited,
    failing, timing out); stops on "no such account", a non-public address or the deadline.
    Raises the profile chain's errors: 404 ``creator_not_found``, 400 ``url_not_allowed``,
    502 ``upstream_blocked``, 504 ``upstream_timeout``, 502 ``upstream_error``.
    """
    credentials = credentials_of(settings)
    client = Client(settings, time.monotonic() + settings.deadline)
    failures: list[tuple[str, SourceFailed]] = []
    for source in sources:
        page, stop = try_source(
            source, credentials, partial(source.fetch, target, client, credentials, limit), failures
        )
        if stop:
            break
        if page is None:
            continue
        posts = sorted(page.posts, key=_newest_first)[:limit]
        return PostsPage(posts, page.followers, page.source, page.platform_user_id)
    raise _final_error(failures)


def _newest_first(post: Post) -> tuple[bool, float]:
    stamp = post.published_at
    return (stamp is None, -stamp.timestamp() if stamp else 0.0)


# -- small pure helpers the parsers share ------------------------------------------------------


def count(value: Any) -> int | None:
    """A non-negative integer count from an int or a digit string; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string or Unix seconds; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def text(value: Any) -> str | None:
    """A stripped non-empty string, else None."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def dig(data: Any, *path: str | int) -> Any:
    """``data[path[0]][path[1]]...``, or None as soon as a step is missing."""
    for step in path:
        if isinstance(step, int) and isinstance(data, list) and -len(data) <= step < len(data):
            data = data[step]
        elif isinstance(step, str) and isinstance(data, Mapping):
            data = data.get(step)
        else:
            return None
    return data
