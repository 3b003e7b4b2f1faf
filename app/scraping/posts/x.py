"""X posts: API v2 user tweets with ``public_metrics`` (source ``x_api``; needs ``X_BEARER_TOKEN``).

Requests (``Authorization: Bearer``): ``GET https://api.x.com/2/users/by/username/<name>
?user.fields=public_metrics`` (id and exact ``followers_count``), then ``GET /2/users/<id>/tweets
?max_results=<5..100>&exclude=replies&tweet.fields=created_at,public_metrics,attachments,
referenced_tweets&expansions=attachments.media_keys&media.fields=type,duration_ms,
preview_image_url,url``. Each tweet gives: id, url (``x.com/<name>/status/<id>``), published_at
(``created_at``), caption (``text``), likes (``like_count``), comments (``reply_count``), shares
(``retweet_count`` + ``quote_count``), views (``impression_count`` when the API returns it),
type (``image``/``carousel``/``video`` from the expanded media, else ``text``), duration_s and
thumbnail_url from the first medium. A retweet (``referenced_tweets`` type ``retweeted``) is
marked ``is_repost``. API errors: 401/403 refused, 429 rate-limited, no such user is 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

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

NAME = "x_api"
API = "https://api.x.com/2"
_TWEET_FIELDS = "created_at,public_metrics,attachments,referenced_tweets"
_MEDIA_FIELDS = "type,duration_ms,preview_image_url,url"


def user_url(username: str) -> str:
    """The users/by/username URL (pure)."""
    return f"{API}/users/by/username/{quote(username, safe='')}?user.fields=public_metrics"


def tweets_url(user_id: str, limit: int) -> str:
    """The user tweets URL (pure); X accepts 5 to 100 results."""
    query = urlencode(
        {
            "max_results": max(5, min(limit, 100)),
            "exclude": "replies",
            "tweet.fields": _TWEET_FIELDS,
            "expansions": "attachments.media_keys",
            "media.fields": _MEDIA_FIELDS,
        }
    )
    return f"{API}/users/{quote(user_id, safe='')}/tweets?{query}"


def parse_tweets(body: Any, username: str) -> list[Post]:
    """The posts of a user tweets answer (pure). No ``data`` (no tweets) is an empty list."""
    if not isinstance(body, dict) or ("data" not in body and "meta" not in body):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    media = {
        m.get("media_key"): m for m in dig(body, "includes", "media") or [] if isinstance(m, dict)
    }
    posts = []
    for tweet in body.get("data") or []:
        if not isinstance(tweet, dict) or not tweet.get("id"):
            continue
        metrics = tweet.get("public_metrics") or {}
        items = [media[k] for k in dig(tweet, "attachments", "media_keys") or [] if k in media]
        kind, duration, thumb = "text", None, None
        if items:
            first = items[0]
            video = first.get("type") in ("video", "animated_gif")
            kind = "video" if video else ("carousel" if len(items) > 1 else "image")
            ms = first.get("duration_ms")
            duration = round(ms / 1000) if isinstance(ms, int) else None
            thumb = text(first.get("preview_image_url")) or text(first.get("url"))
        retweets, quotes = count(metrics.get("retweet_count")), count(metrics.get("quote_count"))
        references = tweet.get("referenced_tweets") or []
        posts.append(
            Post(
                id=str(tweet["id"]),
                url=f"https://x.com/{username}/status/{tweet['id']}",
                published_at=timestamp(tweet.get("created_at")),
                type=kind,
                caption=text(tweet.get("text")),
                views=count(metrics.get("impression_count")),
                likes=count(metrics.get("like_count")),
                comments=count(metrics.get("reply_count")),
                shares=None if retweets is None else retweets + (quotes or 0),
                duration_s=duration,
                thumbnail_url=thumb,
                is_repost=any(
                    isinstance(r, dict) and r.get("type") == "retweeted" for r in references
                ),
            )
        )
    return posts


def _error(status: int, body: Any) -> SourceFailed:
    title = str(dig(body, "title") or dig(body, "errors", 0, "title") or "")
    if status == 200 or title == "Not Found Error":
        return SourceFailed(Kind.NOT_FOUND, "user_not_found")
    return status_failure(status)


class XPosts(PostsSource):
    """API v2 user lookup and user tweets (needs ``X_BEARER_TOKEN``)."""

    name = NAME
    platform = "x"
    endpoint = f"GET {API}/users/:id/tweets (public_metrics)"
    credentials = ("X_BEARER_TOKEN",)

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The user's recent tweets; raises ``SourceFailed``."""
        if not target.segments:
            raise SourceFailed(Kind.UNSUPPORTED, "no_username_in_url")
        username = target.segments[0].lstrip("@")
        headers = {"Authorization": f"Bearer {credentials.x_bearer_token}"}
        response = client.request(user_url(username), headers=headers)
        body = json_body(response) if response.status in (200, 404) else None
        user = dig(body, "data")
        if response.status != 200 or not isinstance(user, dict) or not user.get("id"):
            raise _error(response.status, body)
        response = client.request(tweets_url(str(user["id"]), limit), headers=headers)
        if response.status != 200:
            raise status_failure(response.status)
        posts = parse_tweets(json_body(response), str(user.get("username") or username))
        followers = count(dig(user, "public_metrics", "followers_count"))
        return PostsPage(posts, followers, NAME, str(user["id"]))
