"""Mastodon (and any server speaking its API) posts: account statuses (source ``mastodon_api``).

Endpoints, on the account's own server, no credentials: ``GET /api/v1/accounts/lookup?acct=<user>``
(the account id and its exact ``followers_count``), then ``GET /api/v1/accounts/<id>/statuses
?limit=<n>&exclude_replies=true``. Each ``Status`` gives: id, url, published_at (``created_at``),
caption (``content``, HTML made plain text; the content warning ``spoiler_text`` when there is
one and no content), likes (``favourites_count``), comments (``replies_count``), shares
(``reblogs_count``), type (``image``/``carousel``/``video`` from ``media_attachments``, else
``text``) and thumbnail_url (the first attachment's ``preview_url``). Mastodon shows no views.
A status whose ``reblog`` is set is a boost of someone else's post: it is listed with
``is_repost`` and the counts of the boosted post, and never aggregated.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bs4 import BeautifulSoup

from app.scraping.posts.base import Post, PostsPage, PostsSource, count, text, timestamp
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    SourceFailed,
    Target,
    json_body,
    status_failure,
)
from app.scraping.urls import mastodon_account

NAME = "mastodon_api"
_VIDEO = {"video", "gifv"}


def lookup_url(server: str, user: str) -> str:
    """The accounts/lookup URL (pure)."""
    return f"https://{server}/api/v1/accounts/lookup?acct={quote(user, safe='')}"


def statuses_url(server: str, account_id: str, limit: int) -> str:
    """The account statuses URL (pure)."""
    return (
        f"https://{server}/api/v1/accounts/{quote(account_id, safe='')}/statuses"
        f"?limit={min(limit, 40)}&exclude_replies=true"
    )


def plain(html: Any) -> str | None:
    """Status HTML as plain text: paragraphs and line breaks become newlines."""
    if not isinstance(html, str) or not html.strip():
        return None
    soup = BeautifulSoup(html, "lxml")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for paragraph in soup.find_all("p"):
        paragraph.append("\n\n")
    return text(soup.get_text())


def parse_status(status: dict[str, Any]) -> Post:
    """One ``Status`` as a post (pure); a boost carries the boosted post's counts."""
    shown = status["reblog"] if isinstance(status.get("reblog"), dict) else status
    media = [m for m in shown.get("media_attachments") or [] if isinstance(m, dict)]
    if any(m.get("type") in _VIDEO for m in media):
        kind = "video"
    elif media:
        kind = "carousel" if len(media) > 1 else "image"
    else:
        kind = "text"
    duration = None
    if kind == "video":
        seconds = (media[0].get("meta") or {}).get("original", {}).get("duration")
        duration = round(seconds) if isinstance(seconds, int | float) else None
    return Post(
        id=str(status.get("id")),
        url=text(shown.get("url")) or text(shown.get("uri")),
        published_at=timestamp(status.get("created_at")),
        type=kind,
        caption=plain(shown.get("content")) or text(shown.get("spoiler_text")),
        likes=count(shown.get("favourites_count")),
        comments=count(shown.get("replies_count")),
        shares=count(shown.get("reblogs_count")),
        duration_s=duration,
        thumbnail_url=text(media[0].get("preview_url")) if media else None,
        is_repost=shown is not status,
    )


def parse_statuses(body: Any) -> list[Post]:
    """The posts of an account statuses answer (a JSON array; else ``broken``). Pure."""
    if not isinstance(body, list):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    return [parse_status(s) for s in body if isinstance(s, dict) and s.get("id") is not None]


def _error(status: int) -> SourceFailed:
    return status_failure(status, "record_not_found" if status in (404, 410) else None)


class MastodonPosts(PostsSource):
    """Account lookup then account statuses on the account's server (no credentials)."""

    name = NAME
    platform = "mastodon"
    endpoint = "GET https://<server>/api/v1/accounts/<id>/statuses (exclude_replies=true)"

    def fetch(
        self, target: Target, client: Client, credentials: Credentials, limit: int
    ) -> PostsPage:
        """The statuses of the URL's account; raises ``SourceFailed``."""
        account = mastodon_account(target.url)
        if account is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_fediverse_account")
        user, server = account
        response = client.request(lookup_url(server, user))
        if response.status != 200:
            raise _error(response.status)
        found = json_body(response)
        if not isinstance(found, dict) or found.get("id") is None:
            raise SourceFailed(Kind.BROKEN, "malformed_body")
        if found.get("suspended"):
            raise SourceFailed(Kind.NOT_FOUND, "account_suspended")
        response = client.request(statuses_url(server, str(found["id"]), limit))
        if response.status != 200:
            raise _error(response.status)
        posts = parse_statuses(json_body(response))
        return PostsPage(posts, count(found.get("followers_count")), NAME, str(found["id"]))
