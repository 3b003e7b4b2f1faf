"""Aggregates over a creator's recent posts (pure; no I/O).

Rules, the same for every platform:

- Reposts of someone else's post are listed but never aggregated (``posts_sampled`` counts the
  creator's own posts).
- A metric a post does not show (None) is skipped, never counted as 0: ``avg_likes`` is the mean
  over the posts that show likes. A mean or rate with nothing to average is None.
- ``engagement_rate`` is a fraction (0.0123 = 1.23 %), the mean over posts of one formula,
  named in ``engagement_formula``:

  * ``(likes + comments) / followers`` on platforms whose follower counts are public and exact
    (Instagram, TikTok, X, Bluesky, Mastodon), when the follower count is known and positive;
  * ``(likes + comments) / views`` on YouTube (subscriber counts are rounded or hidden) and
    wherever the follower count is unknown; posts with no or zero views are skipped.

  A post enters the mean only when it shows both likes and comments.
- ``posts_per_week`` is ``(n - 1) / weeks between the oldest and the newest of the n own posts
  with a date``: None for fewer than two dated posts or posts all at the same instant.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from app.scraping.posts.base import Post

Formula = Literal["followers", "views"]
FORMULAS: dict[Formula, str] = {
    "followers": "mean over posts of (likes + comments) / followers",
    "views": "mean over posts of (likes + comments) / views",
}
#: Platforms whose engagement is measured against views even when a follower count is known.
VIEWS_PLATFORMS = frozenset({"youtube", "twitch"})
_WEEK_S = 7 * 86400


def _mean(values: Sequence[int]) -> float | None:
    return statistics.fmean(values) if values else None


def formula_for(platform: str, followers: int | None) -> Formula:
    """Which engagement formula applies (see the module)."""
    if platform in VIEWS_PLATFORMS or not followers:
        return "views"
    return "followers"


def engagement_rate(posts: Sequence[Post], formula: Formula, followers: int | None) -> float | None:
    """The mean engagement of ``posts`` by ``formula`` (a fraction), or None."""
    rates: list[float] = []
    for post in posts:
        if post.likes is None or post.comments is None:
            continue
        base = followers if formula == "followers" else post.views
        if not base:
            continue
        rates.append((post.likes + post.comments) / base)
    return statistics.fmean(rates) if rates else None


def posts_per_week(posts: Sequence[Post]) -> float | None:
    """Posting frequency over the sample (see the module), or None."""
    dates = sorted(p.published_at for p in posts if p.published_at is not None)
    if len(dates) < 2:
        return None
    span = (dates[-1] - dates[0]).total_seconds()
    if span <= 0:
        return None
    return (len(dates) - 1) / (span / _WEEK_S)


def aggregate(platform: str, posts: Sequence[Post], followers: int | None) -> dict[str, Any]:
    """The aggregates the posts endpoint returns, over the creator's own posts in ``posts``.

    ``followers`` is the creator's exact follower count if known. Returns ``posts_sampled``,
    ``avg_views``, ``median_views``, ``avg_likes``, ``avg_comments`` (floats or None),
    ``engagement_rate`` (fraction or None), ``engagement_formula`` (text), ``followers``,
    ``posts_per_week`` and ``last_post_at`` (datetime or None).
    """
    own = [p for p in posts if not p.is_repost]
    views = [p.views for p in own if p.views is not None]
    formula = formula_for(platform, followers)
    dates = [p.published_at for p in own if p.published_at is not None]
    last: datetime | None = max(dates) if dates else None
    return {
        "posts_sampled": len(own),
        "avg_views": _mean(views),
        "median_views": statistics.median(views) if views else None,
        "avg_likes": _mean([p.likes for p in own if p.likes is not None]),
        "avg_comments": _mean([p.comments for p in own if p.comments is not None]),
        "engagement_rate": engagement_rate(own, formula, followers),
        "engagement_formula": FORMULAS[formula],
        "followers": followers,
        "posts_per_week": posts_per_week(own),
        "last_post_at": last,
    }
