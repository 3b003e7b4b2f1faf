"""Creator URLs: which platform and handle a URL names, and canonical URLs from a handle.

Pure functions, no I/O. ``identify(url)`` is what the profile cache is keyed by, so two URLs of
one account (``https://www.youtube.com/@MKBHD/videos``, ``youtube.com/@mkbhd``) share one entry.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: host (without ``www.``/``m.``/``mobile.``) -> platform name used in ``CreatorProfile``
PLATFORM_HOSTS = {
    "youtube.com": "youtube",
    "tiktok.com": "tiktok",
    "instagram.com": "instagram",
    "x.com": "x",
    "twitter.com": "x",
    "bsky.app": "bluesky",
    "twitch.tv": "twitch",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "linktr.ee": "linktree",
}

#: platform -> canonical profile URL for a handle (``platform=`` + ``handle=`` requests)
CANONICAL_URLS = {
    "youtube": "https://www.youtube.com/@{handle}",
    "tiktok": "https://www.tiktok.com/@{handle}",
    "instagram": "https://www.instagram.com/{handle}/",
    "x": "https://x.com/{handle}",
    "bluesky": "https://bsky.app/profile/{handle}",
    "twitch": "https://www.twitch.tv/{handle}",
    "telegram": "https://t.me/{handle}",
    "substack": "https://{handle}.substack.com/",
    "linktree": "https://linktr.ee/{handle}",
    "mastodon": "https://{server}/@{user}",  # handle "user@server"; see mastodon_url()
}

#: What a handle may look like, per platform (checked before any charge).
HANDLE_PATTERNS = {
    "youtube": r"[A-Za-z0-9._-]{3,30}",
    "tiktok": r"[A-Za-z0-9._]{2,24}",
    "instagram": r"[A-Za-z0-9._]{1,30}",
    "x": r"[A-Za-z0-9_]{1,15}",
    "bluesky": r"[A-Za-z0-9.-]{3,253}",
    "twitch": r"[A-Za-z0-9_]{3,25}",
    "telegram": r"[A-Za-z0-9_]{4,32}",
    "substack": r"[a-z0-9-]{1,63}",
    "linktree": r"[A-Za-z0-9._-]{1,30}",
    "mastodon": r"[A-Za-z0-9_.-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
}

#: Fediverse servers recognised by host alone (any other server is recognised by its
#: ``/@user`` profile path); the account's key is ``user@server``.
FEDIVERSE_HOSTS = frozenset(
    {
        "mastodon.social",
        "mastodon.online",
        "mastodon.world",
        "mstdn.social",
        "mstdn.jp",
        "mas.to",
        "masto.ai",
        "fosstodon.org",
        "hachyderm.io",
        "infosec.exchange",
        "techhub.social",
        "social.vivaldi.net",
        "chaos.social",
        "mathstodon.xyz",
        "indieweb.social",
        "universeodon.com",
        "mastodon.art",
        "pawoo.net",
        "journa.host",
        "toot.community",
    }
)
#: Sites with ``/@name`` paths that are not fediverse servers.
_NOT_FEDIVERSE_HOSTS = frozenset({"medium.com", "substack.com", "threads.net", "vimeo.com"})
_ACCT = re.compile(r"@?([A-Za-z0-9_.-]{1,64})@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")

_RESERVED_FIRST_SEGMENTS = {
    "instagram": {"p", "reel", "reels", "explore", "accounts", "stories", "tv"},
    "x": {"home", "i", "search", "explore", "settings", "intent", "share", "hashtag"},
    "twitch": {"directory", "videos", "settings", "p", "search"},
}


@dataclass(frozen=True)
class CreatorRef:
    """A platform and the account's key on it (lower-cased handle, channel id or host+path)."""

    platform: str
    handle: str


def assume_https(raw: str) -> str:
    """A URL a user typed, trimmed, with ``https://`` added when it has no scheme
    (``youtube.com/@mkbhd`` -> ``https://youtube.com/@mkbhd``). An empty string stays empty."""
    url = raw.strip()
    if url.startswith("@") and (acct := _ACCT.fullmatch(url)):
        return mastodon_url(f"{acct.group(1)}@{acct.group(2)}") or url
    return "https://" + url if url and "://" not in url else url


def mastodon_url(handle: str) -> str | None:
    """The profile URL of a fediverse account ``user@server`` (a leading ``@`` is fine):
    ``https://server/@user``; None when ``handle`` is not of that form."""
    acct = _ACCT.fullmatch(handle.strip())
    if acct is None:
        return None
    return f"https://{acct.group(2).lower()}/@{acct.group(1)}"


def mastodon_account(url: str) -> tuple[str, str] | None:
    """``(user, domain)`` of a fediverse profile URL, case kept, or None.

    ``https://mastodon.social/@Gargron`` gives ``("Gargron", "mastodon.social")``; a remote
    account shown by another server (``https://a.social/@bob@b.social``) gives its own domain;
    ``/users/<name>`` is recognised on known fediverse hosts. Known platforms and sites whose
    ``/@name`` paths are not fediverse accounts give None.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    bare = _bare_host(host)
    if bare in PLATFORM_HOSTS or bare in _NOT_FEDIVERSE_HOSTS or bare.endswith(".substack.com"):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or len(segments) > 2:
        return None
    first = segments[0]
    if first.startswith("@") and len(first) > 1:
        remote = _ACCT.fullmatch(first)
        if remote:
            return remote.group(1), remote.group(2).lower()
        if re.fullmatch(r"@[A-Za-z0-9_.-]{1,64}", first):
            return first[1:], host
        return None
    if bare in FEDIVERSE_HOSTS and first == "users" and len(segments) == 2:
        return segments[1], host
    return None


def _bare_host(host: str) -> str:
    host = host.lower().rstrip(".")
    for prefix in ("www.", "m.", "mobile.", "vm."):
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def identify(url: str) -> CreatorRef:
    """The platform and account key a profile URL names.

    Known platforms give their handle (YouTube ``@handle`` or ``channel/<id>``, Bluesky
    ``profile/<handle>``, Telegram ``s/<name>`` too): one creator whatever the scheme, port or
    query. Substack gives the publication subdomain. Any other site gives ``web`` and its
    origin and path (``_web_key``), so pages of different origins are never the same creator.
    """
    parts = urlsplit(url)
    host = _bare_host(parts.hostname or "")
    segments = [s for s in parts.path.split("/") if s]
    platform = PLATFORM_HOSTS.get(host)
    if platform is None and host.endswith(".substack.com") and host.count(".") == 2:
        return CreatorRef("substack", host.split(".")[0])
    if platform is None and (acct := mastodon_account(url)):
        return CreatorRef("mastodon", f"{acct[0]}@{acct[1]}".lower())
    handle = _handle_from_path(platform, segments) if platform else None
    if platform and handle:
        return CreatorRef(platform, handle.lower())
    return CreatorRef("web", _web_key(url))


_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_HANDLE = 300  # public.creator_profiles.handle


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: scheme and host lower-cased, a trailing dot and the
    scheme's default port dropped, IPv6 hosts bracketed; never credentials."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _web_key(url: str) -> str:
    """``scheme://host[:port]/path`` of a personal-site URL: lower-cased, the default port and a
    trailing slash dropped, and a query string as ``?`` + 16 hex digits of its SHA-256 (never
    the query itself, which may carry a caller's token). Longer than 300 characters: cut, with a
    hash of the whole key appended."""
    parts = urlsplit(url)
    path = "/".join(s for s in parts.path.split("/") if s).lower()
    key = f"{origin(url)}/{path}".rstrip("/")
    if parts.query:
        key += "?" + hashlib.sha256(parts.query.encode()).hexdigest()[:16]
    if len(key) > _MAX_HANDLE:
        key = key[: _MAX_HANDLE - 17] + "#" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return key


def _handle_from_path(platform: str, segments: list[str]) -> str | None:
    if not segments:
        return None
    first = segments[0]
    if platform in {"youtube", "tiktok"}:
        if first.startswith("@"):
            return first[1:] or None
        if platform == "youtube" and first in {"channel", "c", "user"} and len(segments) > 1:
            return f"{first}/{segments[1]}"
        return None
    if platform == "bluesky":
        return segments[1] if first == "profile" and len(segments) > 1 else None
    if platform == "telegram" and first == "s" and len(segments) > 1:
        return segments[1]
    if first.lower() in _RESERVED_FIRST_SEGMENTS.get(platform, set()):
        return None
    return first.lstrip("@") or None


def canonical_url(platform: str, handle: str) -> str | None:
    """The profile URL for ``handle`` on ``platform``, or None when the handle cannot be one
    (wrong characters or length) or the platform has no handle URLs."""
    if platform == "mastodon":
        return mastodon_url(handle)
    template = CANONICAL_URLS.get(platform)
    handle = handle.strip().lstrip("@")
    pattern = HANDLE_PATTERNS.get(platform)
    if template is None or pattern is None or not re.fullmatch(pattern, handle):
        return None
    return template.format(handle=handle.lower() if platform == "substack" else handle)
