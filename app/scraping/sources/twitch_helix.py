"""Twitch Helix ``users`` and ``channels/followers`` (source ``twitch_helix``), when
``TWITCH_CLIENT_ID`` and ``TWITCH_CLIENT_SECRET`` are set.

Requests, each with ``Client-Id`` and ``Authorization: Bearer <app access token>`` headers:

1. the app access token: ``POST https://id.twitch.tv/oauth2/token`` (client-credentials grant;
   ``client_id``, ``client_secret`` in the form body, never in a URL). It is cached per client id
   until shortly before ``expires_in`` runs out, and renewed once when Helix answers 401;
2. ``GET https://api.twitch.tv/helix/users?login=<login>``: platform_user_id ``id``, handle
   ``login``, display_name ``display_name``, bio ``description``, avatar_url
   ``profile_image_url``, verified (``broadcaster_type`` is ``partner``: Twitch's verified
   badge); an empty ``data`` means no such user;
3. ``GET https://api.twitch.tv/helix/channels/followers?broadcaster_id=<id>&first=1``: followers
   ``total`` (exact). When only this request fails, the profile is kept without followers.

Errors are ``{"error", "status", "message"}``: 401 (token expired or revoked) renews the token
once; 400/403 from the token endpoint (bad client id or secret) and other 401/403 are refusals;
429 is rate-limited.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

from app.scraping.fetch import FetchedResponse
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    Source,
    SourceFailed,
    Target,
    builder,
    finish,
    json_body,
    status_failure,
)

NAME = "twitch_helix"
OAUTH_ENDPOINT = "https://id.twitch.tv/oauth2/token"
USERS_URL = "https://api.twitch.tv/helix/users"
FOLLOWERS_URL = "https://api.twitch.tv/helix/channels/followers"
_RENEW_MARGIN = 60.0  # seconds before expiry a cached token is no longer used
_RESERVED = {"directory", "videos", "settings", "p", "search", "downloads", "jobs", "turbo"}


class TokenCache:
    """App access tokens per client id, until shortly before they expire. Thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> str | None:
        """The cached token for ``client_id`` if it is still good."""
        with self._lock:
            token, expires_at = self._tokens.get(client_id, ("", 0.0))
        return token if token and time.monotonic() < expires_at - _RENEW_MARGIN else None

    def put(self, client_id: str, token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[client_id] = (token, time.monotonic() + expires_in)

    def drop(self, client_id: str) -> None:
        with self._lock:
            self._tokens.pop(client_id, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


def login_of(target: Target) -> str | None:
    """The channel login a ``twitch.tv/<login>`` URL names (None for other pages). Pure."""
    if not target.segments:
        return None
    login = target.segments[0].lower()
    if login in _RESERVED or not login.replace("_", "").isalnum():
        return None
    return login


def parse_token(body: Any) -> tuple[str, float]:
    """``(access_token, expires_in seconds)`` of a token response (pure)."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise SourceFailed(Kind.BROKEN, "malformed_token_response")
    expires_in = body.get("expires_in")
    return body["access_token"], float(expires_in) if isinstance(expires_in, int) else 3600.0


def error_of(response: FetchedResponse) -> SourceFailed:
    """The failure a Twitch error response means (pure)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    reason = str(message).lower().replace(" ", "_") if message else None
    if response.status == 400 and reason:  # the token endpoint's "invalid client"
        return SourceFailed(Kind.REFUSED, reason)
    return status_failure(response.status, reason)


def parse_users(body: Any) -> CreatorProfile:
    """A Helix ``users`` answer as a profile (pure); empty ``data``: ``not_found``."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    if not body["data"] or not isinstance(body["data"][0], dict):
        raise SourceFailed(Kind.NOT_FOUND, "user_not_found")
    user = body["data"][0]
    profile = builder("twitch")
    profile.set("platform_user_id", user.get("id"), NAME)
    profile.set("handle", user.get("login"), NAME)
    profile.set("display_name", user.get("display_name"), NAME)
    profile.set("bio", user.get("description"), NAME)
    profile.set("avatar_url", user.get("profile_image_url"), NAME)
    if isinstance(user.get("broadcaster_type"), str):
        profile.set("verified", user["broadcaster_type"] == "partner", NAME)
    login = profile.get("handle")
    return finish(profile, f"https://www.twitch.tv/{login}" if login else None, NAME)


def parse_followers(body: Any) -> int | None:
    """The ``total`` of a ``channels/followers`` answer (pure)."""
    total = body.get("total") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class TwitchHelix(Source):
    """Twitch Helix with an app access token (needs ``TWITCH_CLIENT_ID``/``_SECRET``)."""

    name = NAME
    platform = "twitch"
    endpoint = "GET https://api.twitch.tv/helix/users + /helix/channels/followers"
    credentials = ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET")
    fields = {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
        "verified": "exact",
    }

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """Token (cached), users, then the follower total; raises ``SourceFailed``."""
        login = login_of(target)
        if login is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_channel_url")
        users = helix_get(client, credentials, f"{USERS_URL}?{urlencode({'login': login})}")
        profile = parse_users(json_body(users))
        query = urlencode({"broadcaster_id": profile.platform_user_id, "first": 1})
        followers_url = f"{FOLLOWERS_URL}?{query}"
        try:
            total = parse_followers(json_body(helix_get(client, credentials, followers_url)))
        except SourceFailed as failure:
            if failure.kind == Kind.DEADLINE:
                raise
            total = None
        if total is None:
            return profile
        sources = {**profile.sources, "followers": NAME}
        return profile.model_copy(update={"followers": total, "sources": sources})


def helix_get(client: Client, credentials: Credentials, url: str) -> FetchedResponse:
    """One Helix GET with the app access token of ``credentials.twitch_client_id`` (from
    :data:`TOKENS`, fetched when missing); a 401 drops the cached token and retries once with a
    new one. Shared by the profile source and the posts source (``app.scraping.posts.twitch``).

    Returns the 200 response; raises ``SourceFailed`` (see :func:`error_of`).
    """
    response = _get(client, credentials, url)
    if response.status == 401:
        TOKENS.drop(credentials.twitch_client_id)
        response = _get(client, credentials, url)
    if response.status != 200:
        raise error_of(response)
    return response


def _get(client: Client, credentials: Credentials, url: str) -> FetchedResponse:
    headers = {
        "Client-Id": credentials.twitch_client_id,
        "Authorization": f"Bearer {_token(client, credentials)}",
    }
    return client.request(url, headers=headers)


def _token(client: Client, credentials: Credentials) -> str:
    cached = TOKENS.get(credentials.twitch_client_id)
    if cached:
        return cached
    response = client.request(
        OAUTH_ENDPOINT,
        method="POST",
        data={
            "client_id": credentials.twitch_client_id,
            "client_secret": credentials.twitch_client_secret,
            "grant_type": "client_credentials",
        },
    )
    if response.status != 200:
        raise error_of(response)
    token, expires_in = parse_token(json_body(response))
    TOKENS.put(credentials.twitch_client_id, token, expires_in)
    return token
