"""The source chain: try a platform's sources in order, merge what they give, fail once.

Written once for every platform (the sources only fetch and parse):

1. Each source in the platform's order is tried until the merged profile is complete enough
   (it has an exact follower count, or the source that answered is ``sufficient``: an official
   API after which the page has nothing more). A source that is not configured on this server is
   skipped; a source that is refused, rate-limited, out of quota, failing or timing out hands
   over to the next one. An authoritative "no such account", a non-public address or the end
   of the lookup's deadline stop the chain.
2. Fields are merged: the first source (official APIs come first) wins, except that an exact
   count beats a rounded one; ``external_links`` and ``emails`` are the union, in order.
   ``sources`` names the source of each field.
3. The lookup fails only when no source gave a profile, with the most telling error: 404
   ``creator_not_found`` when a source said the account does not exist; 400
   ``url_not_allowed`` for a non-public address; 502 ``upstream_blocked`` when every source
   tried was refused or rate-limited; 504 ``upstream_timeout`` when the time ran out; else 502
   ``upstream_error``. ``details.sources`` lists every source with its failure.

One deadline (``settings.deadline``, i.e. ``FETCH_DEADLINE``) covers all sources together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from app.scraping.fetch import (
    CreatorNotFound,
    FetchFailed,
    FetchSettings,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    LookupSettings,
    Source,
    SourceFailed,
    Target,
)

log = logging.getLogger(__name__)

_COUNTS = ("followers", "following", "posts", "likes")
_LISTS = ("external_links", "emails")
_SKIP = frozenset({"platform", "counts_approximate", "sources", *_LISTS})
_STOPS = frozenset({Kind.NOT_FOUND, Kind.NOT_ALLOWED, Kind.DEADLINE})
T = TypeVar("T")
_REFUSALS = frozenset({Kind.REFUSED, Kind.RATE_LIMITED})
_UNTRIED = frozenset({Kind.NOT_CONFIGURED, Kind.UNSUPPORTED})


def credentials_of(settings: FetchSettings) -> Credentials:
    """The API credentials carried by ``settings`` (none for plain fetcher settings)."""
    return settings.credentials if isinstance(settings, LookupSettings) else Credentials()


class _Merged:
    """The profile being assembled from the sources' answers."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.rounded: set[str] = set()
        self.lists: dict[str, list[str]] = {name: [] for name in _LISTS}
        self.list_sources: dict[str, list[str]] = {name: [] for name in _LISTS}
        self.platform: str | None = None

    def add(self, profile: CreatorProfile) -> None:
        """Merge one source's profile (after the ones already merged)."""
        self.platform = self.platform or profile.platform
        for name, value in profile:
            if name in _SKIP or value is None or value == "":
                continue
            if name in _COUNTS:
                replace = name not in self.values or (
                    name in self.rounded and not profile.counts_approximate
                )
                if not replace:
                    continue
                self.rounded.discard(name)
                if profile.counts_approximate:
                    self.rounded.add(name)
            elif name in self.values:
                continue
            self.values[name] = value
            self.sources[name] = profile.sources.get(name, "unknown")
        for name in _LISTS:
            known = {item.lower() for item in self.lists[name]}
            added = False
            for item in getattr(profile, name):
                if item.lower() not in known:
                    self.lists[name].append(item)
                    known.add(item.lower())
                    added = True
            where = profile.sources.get(name)
            if added and where and where not in self.list_sources[name]:
                self.list_sources[name].append(where)

    def complete(self) -> bool:
        """Enough to stop: an exact follower count and a name or handle."""
        has_name = "display_name" in self.values or "handle" in self.values
        return has_name and "followers" in self.values and "followers" not in self.rounded

    def build(self) -> CreatorProfile:
        sources = dict(self.sources)
        for name in _LISTS:
            if self.lists[name]:
                sources[name] = ", ".join(self.list_sources[name]) or "unknown"
        return CreatorProfile(
            platform=self.platform,
            counts_approximate=bool(self.rounded),
            sources=sources,
            **self.lists,
            **self.values,
        )


def run_chain(sources: Sequence[Source], target: Target, settings: FetchSettings) -> CreatorProfile:
    """Try ``sources`` in order for ``target`` within ``settings.deadline`` (see the module).

    Raises:
        CreatorNotFound: 404 ``creator_not_found``, a source said the account does not exist.
        UrlNotAllowed: 400 ``url_not_allowed``, the target (or a redirect) is not public.
        UpstreamBlocked: 502 ``upstream_blocked``, every source tried was refused.
        UpstreamTimeout: 504 ``upstream_timeout``, the deadline ran out.
        UpstreamError: 502 ``upstream_error``, the sources failed otherwise.
    """
    credentials = credentials_of(settings)
    client = Client(settings, time.monotonic() + settings.deadline, own_host=target.host)
    merged = _Merged()
    answered = False
    failures: list[tuple[str, SourceFailed]] = []
    for source in sources:
        profile, stop = try_source(
            source, credentials, partial(source.fetch, target, client, credentials), failures
        )
        if stop:
            break
        if profile is None:
            continue
        merged.add(profile)
        answered = True
        if source.sufficient or merged.complete():
            break
    if answered:
        return merged.build()
    raise _final_error(failures)


def try_source(
    source: Any,
    credentials: Credentials,
    fetch: Callable[[], T],
    failures: list[tuple[str, SourceFailed]],
) -> tuple[T | None, bool]:
    """One step of a chain (profile or posts): ``fetch()`` for ``source`` unless it is not
    configured. Returns ``(answer, False)``, or ``(None, stop)`` after appending the failure to
    ``failures``: a ``SourceFailed`` of a stopping kind (not found, not allowed, deadline) ends
    the chain; any other, or an unexpected exception (a parser met a shape it does not know:
    the next source may not), hands over as ``broken``."""
    if not source.active(credentials):
        failures.append((source.name, SourceFailed(Kind.NOT_CONFIGURED, "no_credentials")))
        return None, False
    try:
        return fetch(), False
    except SourceFailed as failure:
        log.info("source %s failed: %s %s", source.name, failure.kind, failure.reason)
        failures.append((source.name, failure))
        return None, failure.kind in _STOPS
    except Exception:
        log.exception("source %s failed unexpectedly", source.name)
        failures.append((source.name, SourceFailed(Kind.BROKEN, "source_error")))
        return None, False


def _final_error(failures: list[tuple[str, SourceFailed]]) -> FetchFailed:
    """The most telling error of a lookup that no source answered."""
    listing = [
        {"source": name, "failure": str(failure.kind), "reason": failure.reason}
        for name, failure in failures
    ]
    tried = [failure for _, failure in failures if failure.kind not in _UNTRIED]
    by_kind = {failure.kind: failure for failure in tried}  # the last of each kind
    if Kind.NOT_ALLOWED in by_kind and by_kind[Kind.NOT_ALLOWED].error is not None:
        error = by_kind[Kind.NOT_ALLOWED].error
        return type(error)(error.message, details=error.details)
    details: dict[str, Any] = {"sources": listing}
    if Kind.NOT_FOUND in by_kind:
        failure = by_kind[Kind.NOT_FOUND]
        return CreatorNotFound(details={"reason": failure.reason, **details})
    if tried and all(failure.kind in _REFUSALS for failure in tried):
        failure = by_kind.get(Kind.RATE_LIMITED) or tried[-1]
        if failure.retry_after is not None:
            details["retry_after"] = failure.retry_after
        return UpstreamBlocked(details={"reason": failure.reason, **details})
    if Kind.DEADLINE in by_kind or (Kind.TIMEOUT in by_kind and Kind.BROKEN not in by_kind):
        failure = by_kind.get(Kind.DEADLINE) or by_kind[Kind.TIMEOUT]
        return UpstreamTimeout(details={"reason": failure.reason, **details})
    failure = by_kind.get(Kind.BROKEN) or (tried[-1] if tried else None)
    extra = failure.error.details if failure is not None and failure.error is not None else {}
    reason = failure.reason if failure is not None else "no_source"
    return UpstreamError(details={"reason": reason, **extra, **details})
