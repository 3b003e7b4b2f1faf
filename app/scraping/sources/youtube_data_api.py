"""YouTube Data API v3 ``channels.list`` (source ``youtube_data_api``), when ``YOUTUBE_API_KEY``
is set.

Endpoint: ``GET https://www.googleapis.com/youtube/v3/channels`` with
``part=snippet,statistics,brandingSettings`` and ``forHandle=@<handle>`` (``/@handle`` URLs),
``id=<UC...>`` (``/channel/<id>``) or ``forUsername=<name>`` (legacy ``/user/<name>``). The key
travels in the ``X-Goog-Api-Key`` header, never in the URL. ``/c/<name>`` custom URLs have no
API lookup: the source is skipped for them. Costs 1 quota unit.

Fields:

- platform_user_id: ``id``; handle: ``snippet.customUrl`` without "@";
- display_name: ``snippet.title`` (else ``brandingSettings.channel.title``);
- bio: ``snippet.description`` (else ``brandingSettings.channel.description``);
- avatar_url: the largest ``snippet.thumbnails`` (high, medium, default);
- followers: ``statistics.subscriberCount``, unless ``hiddenSubscriberCount``. YouTube rounds it
  down to three significant figures (1,927,873 is served as 1,920,000 since 2019), so counts of
  1,000 and more are marked rounded (``counts_approximate``);
- posts: ``statistics.videoCount`` (exact);
- external_links / emails: URLs and addresses written in the description.

Errors (Google's ``{"error": {"code", "errors": [{"reason", "domain"}]}}``): ``quotaExceeded``
pauses this source until the daily quota resets (midnight Pacific time) and hands over to the
page; ``rateLimitExceeded`` hands over; ``keyInvalid``, ``forbidden`` and other 400/401/403 are
refusals; an empty ``items`` (or ``channelNotFound``) means no such channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from app.scraping.extractors.base import find_emails, find_urls
from app.scraping.fetch import FetchedResponse
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    PauseBoard,
    Source,
    SourceFailed,
    Target,
    builder,
    json_body,
    status_failure,
)

NAME = "youtube_data_api"
ENDPOINT = "https://www.googleapis.com/youtube/v3/channels"
PARTS = "snippet,statistics,brandingSettings"
PACIFIC = ZoneInfo("America/Los_Angeles")
#: Per process: the source is skipped while its quota is known to be spent.
PAUSES = PauseBoard()
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}


def lookup_params(target: Target) -> dict[str, str] | None:
    """The ``channels.list`` selector for a YouTube URL, or None when the API cannot look it up
    (``/c/<name>`` custom URLs, video pages...). Pure."""
    segments = target.segments
    if not segments:
        return None
    first = segments[0]
    if first.startswith("@") and len(first) > 1:
        return {"forHandle": first}
    if first == "channel" and len(segments) > 1 and segments[1].startswith("UC"):
        return {"id": segments[1]}
    if first == "user" and len(segments) > 1:
        return {"forUsername": segments[1]}
    return None


def request_url(selector: dict[str, str]) -> str:
    """The channels.list URL (without the key, which goes in a header). Pure."""
    return f"{ENDPOINT}?{urlencode({'part': PARTS, **selector})}"


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in Pacific time after ``now`` (aware), when the daily quota resets."""
    local = now.astimezone(PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight


def error_reason(body: Any) -> str | None:
    """The first ``errors[].reason`` of a Google API error body (or ``error.status``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            return str(item["reason"])
    return str(error["status"]) if error.get("status") else None


def error_of(response: FetchedResponse) -> SourceFailed:
    """The failure a Google API error response means (pure)."""
    try:
        reason = error_reason(response.json())
    except (ValueError, UnicodeDecodeError):
        reason = None
    if reason in _QUOTA_REASONS:
        return SourceFailed(Kind.RATE_LIMITED, "quota_exceeded")
    if reason in _RATE_REASONS:
        return SourceFailed(Kind.RATE_LIMITED, "rate_limit_exceeded")
    if reason == "channelNotFound":
        return SourceFailed(Kind.NOT_FOUND, "channel_not_found")
    if response.status in (400, 401, 403):
        return SourceFailed(Kind.REFUSED, _snake(reason) if reason else f"status_{response.status}")
    return status_failure(response.status)


def _snake(reason: str) -> str:
    """``keyInvalid`` -> ``key_invalid``; ``PERMISSION_DENIED`` -> ``permission_denied``."""
    if "_" in reason or reason.isupper():
        return reason.lower()
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in reason).lstrip("_")


def parse(body: Any) -> CreatorProfile:
    """A ``channelListResponse`` as a profile (pure). No items: ``not_found``."""
    if not isinstance(body, dict) or body.get("kind") != "youtube#channelListResponse":
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    items = body.get("items") or []
    if not items or not isinstance(items[0], dict):
        raise SourceFailed(Kind.NOT_FOUND, "channel_not_found")
    channel = items[0]
    snippet = channel.get("snippet") or {}
    statistics = channel.get("statistics") or {}
    branding = (channel.get("brandingSettings") or {}).get("channel") or {}
    profile = builder("youtube")
    profile.set("platform_user_id", channel.get("id"), NAME)
    profile.set("handle", snippet.get("customUrl"), NAME)
    profile.set("display_name", snippet.get("title") or branding.get("title"), NAME)
    profile.set("bio", snippet.get("description") or branding.get("description"), NAME)
    thumbnails = snippet.get("thumbnails") or {}
    for size in ("high", "medium", "default"):
        profile.set("avatar_url", (thumbnails.get(size) or {}).get("url"), NAME)
    if not statistics.get("hiddenSubscriberCount"):
        subscribers = _int(statistics.get("subscriberCount"))
        profile.set_count("followers", subscribers, NAME)
        if subscribers is not None and subscribers >= 1000:
            profile.approximate = True  # rounded down to three significant figures
    profile.set_count("posts", _int(statistics.get("videoCount")), NAME)
    profile.add_links(find_urls(profile.get("bio")), NAME)
    profile.add_emails(find_emails(profile.get("bio")), NAME)
    handle = profile.get("handle")
    url = f"https://www.youtube.com/@{handle}" if handle else None
    if url is None and profile.get("platform_user_id"):
        url = f"https://www.youtube.com/channel/{profile.get('platform_user_id')}"
    return profile.build(url)


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


class YouTubeDataApi(Source):
    """YouTube Data API v3 ``channels.list`` (needs ``YOUTUBE_API_KEY``)."""

    name = NAME
    platform = "youtube"
    endpoint = f"GET {ENDPOINT} (part={PARTS})"
    credentials = ("YOUTUBE_API_KEY",)
    sufficient = True  # the page has nothing more, and its counts are rounded too
    fields = {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "rounded",
        "posts": "exact",
        "external_links": "exact",
        "emails": "exact",
    }

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """channels.list for the URL's handle, id or username; raises ``SourceFailed``."""
        if PAUSES.paused_for(NAME) > 0:
            raise SourceFailed(Kind.RATE_LIMITED, "quota_exceeded")
        selector = lookup_params(target)
        if selector is None:
            raise SourceFailed(Kind.UNSUPPORTED, "no_api_lookup_for_url")
        response = client.request(
            request_url(selector), headers={"X-Goog-Api-Key": credentials.youtube_api_key}
        )
        if response.status != 200:
            failure = error_of(response)
            if failure.reason == "quota_exceeded":
                PAUSES.pause(NAME, next_quota_reset(datetime.now(PACIFIC)).timestamp())
            raise failure
        return parse(json_body(response))
