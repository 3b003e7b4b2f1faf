"""What every source shares: the settings it runs with, its failures, and the profile it returns.

A *source* is one way to get one platform's profile: a small request plan (URL, headers,
credentials from the settings) sent through the hardened fetcher, and a pure parser from the
response to a partial :class:`CreatorProfile`. Parsers never do I/O, so they are tested on
recorded bytes alone. Failures are classified into a few kinds (:class:`Kind`); the chain in
``app.scraping.sources.chain`` decides on the kind only, never on a platform's exception.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from app.scraping.extractors.base import Page, ProfileBuilder
from app.scraping.fetch import (
    CreatorNotFound,
    FetchedResponse,
    FetchFailed,
    FetchSettings,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
    UrlNotAllowed,
    fetch_response,
)
from app.scraping.models import CreatorProfile, Platform


@dataclass(frozen=True)
class Credentials:
    """Deployer credentials of the official APIs (empty string: not configured).

    ``repr`` shows only which are set, so a settings object can be logged safely.
    """

    youtube_api_key: str = field(default="", repr=False)
    twitch_client_id: str = field(default="", repr=False)
    twitch_client_secret: str = field(default="", repr=False)
    x_bearer_token: str = field(default="", repr=False)

    def __repr__(self) -> str:
        names = [name for name, value in vars(self).items() if value]
        return f"Credentials(configured={names})"


@dataclass(frozen=True)
class LookupSettings(FetchSettings):
    """The fetcher's bounds plus the API credentials: everything one lookup needs.

    ``deadline`` covers the whole lookup, every source included.
    """

    credentials: Credentials = field(default_factory=Credentials)


class Kind(enum.StrEnum):
    """Why a source gave no profile. The chain goes on to the next source for every kind except
    ``not_allowed`` (the target itself is refused) and ``deadline`` (no time is left)."""

    NOT_CONFIGURED = "not_configured"  # no credentials on this server
    REFUSED = "refused"  # 401/403, login or consent wall, captcha
    RATE_LIMITED = "rate_limited"  # 429 or out of quota
    NOT_FOUND = "not_found"  # the platform says authoritatively: no such account
    BROKEN = "broken"  # 5xx, connection or TLS error, malformed body, empty page
    TIMEOUT = "timeout"  # one request timed out
    DEADLINE = "deadline"  # the lookup's deadline has passed
    NOT_ALLOWED = "not_allowed"  # a non-public address (SSRF guard)
    UNSUPPORTED = "unsupported"  # this source cannot look up this kind of URL


class SourceFailed(Exception):
    """A source gave no profile. ``reason`` is stable snake_case (``status_403``,
    ``quota_exceeded``...); ``error`` is the fetcher's error when there was one."""

    def __init__(
        self,
        kind: Kind,
        reason: str,
        *,
        error: FetchFailed | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.error = error
        self.retry_after = retry_after


def classify(error: FetchFailed) -> SourceFailed:
    """The failure kind of one of the fetcher's errors."""
    reason = str(error.details.get("reason") or error.code)
    retry_after = error.details.get("retry_after")
    if isinstance(error, UrlNotAllowed):
        kind = Kind.NOT_ALLOWED
    elif isinstance(error, CreatorNotFound):
        kind = Kind.NOT_FOUND
    elif isinstance(error, UpstreamBlocked):
        kind = Kind.RATE_LIMITED if reason == "status_429" else Kind.REFUSED
    elif isinstance(error, UpstreamTimeout):
        kind = Kind.DEADLINE if reason == "deadline" else Kind.TIMEOUT
    elif isinstance(error, UpstreamError):
        kind = Kind.BROKEN
    else:
        kind = Kind.BROKEN
    return SourceFailed(kind, reason, error=error, retry_after=retry_after)


def status_failure(status: int, reason: str | None = None) -> SourceFailed:
    """The failure an API's non-2xx status means (``reason`` refines it, e.g. from the body)."""
    reason = reason or f"status_{status}"
    if status in (401, 403):
        return SourceFailed(Kind.REFUSED, reason)
    if status == 429:
        return SourceFailed(Kind.RATE_LIMITED, reason)
    if status in (404, 410):
        return SourceFailed(Kind.NOT_FOUND, reason)
    return SourceFailed(Kind.BROKEN, reason)


class Client:
    """Sends a source's requests through the hardened fetcher, inside the lookup's deadline."""

    def __init__(self, settings: FetchSettings, deadline_at: float) -> None:
        self.settings = settings
        self.deadline_at = deadline_at

    def remaining(self) -> float:
        """Seconds left of the lookup's deadline."""
        return self.deadline_at - time.monotonic()

    def bounded(self) -> FetchSettings:
        """The settings for one request: the same bounds, the deadline what is left of it.

        Raises ``SourceFailed`` (``deadline``) when nothing is left.
        """
        remaining = self.remaining()
        if remaining <= 0.05:
            raise SourceFailed(Kind.DEADLINE, "deadline")
        return dataclasses.replace(self.settings, deadline=remaining)

    def request(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> FetchedResponse:
        """One request; the fetcher's errors become ``SourceFailed`` of their kind."""
        settings = self.bounded()
        try:
            return fetch_response(url, settings, method=method, headers=headers, data=data)
        except FetchFailed as err:
            raise classify(err) from err


def json_body(response: FetchedResponse) -> Any:
    """The response's JSON; a body that is not JSON is a ``broken`` failure."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise SourceFailed(Kind.BROKEN, "malformed_body") from None


def builder(platform: Platform, url: str = "") -> ProfileBuilder:
    """A :class:`ProfileBuilder` for an API response (no page; ``url`` resolves relative URLs)."""
    return ProfileBuilder(platform, Page(url, ""))


FieldQuality = Literal["exact", "rounded"]


@dataclass(frozen=True)
class Target:
    """What a lookup asks for: the URL as given (case kept) and its path segments."""

    url: str
    host: str
    segments: tuple[str, ...]


class Source:
    """One way to get one platform's profile. Subclasses set the class attributes and
    implement :meth:`fetch` (requests through ``client``, then a pure parser)."""

    name: ClassVar[str]  # as returned in ``sources`` (e.g. ``bluesky_api``)
    platform: ClassVar[Platform]
    endpoint: ClassVar[str]  # the endpoint, for the platforms listing
    credentials: ClassVar[tuple[str, ...]] = ()  # config names it needs
    fields: ClassVar[Mapping[str, FieldQuality]] = {}
    sufficient: ClassVar[bool] = False  # an answer ends the chain (later sources add nothing)

    def active(self, credentials: Credentials) -> bool:
        """Whether this server has what the source needs (its credentials)."""
        return all(getattr(credentials, name.lower()) for name in self.credentials)

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """Get the profile, or raise ``SourceFailed``."""
        raise NotImplementedError


class PauseBoard:
    """Sources paused until a time (e.g. an API out of quota until its daily reset), per process.

    Thread-safe; ``now`` is injectable for tests.
    """

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._now = now

    def pause(self, key: str, until: float) -> None:
        """Pause ``key`` until the epoch second ``until``."""
        with self._lock:
            self._until[key] = max(until, self._until.get(key, 0.0))

    def paused_for(self, key: str) -> float:
        """Seconds ``key`` stays paused (0 when it is not)."""
        with self._lock:
            until = self._until.get(key, 0.0)
        return max(0.0, until - self._now())

    def clear(self) -> None:
        """Forget every pause."""
        with self._lock:
            self._until.clear()
