"""Fetch one public web page safely and boundedly.

:func:`fetch_page` is the only way the API and the job worker download a creator page. It is built
to be pointed at any URL a customer types without letting that URL reach our own network (SSRF),
hang a worker, or exhaust its memory.

Address guard, in three layers:

1. :func:`validate_public_url` (cheap, no I/O, run before any charge): http(s) only, no
   credentials, a length cap, and the host in canonical form. IP literals in any spelling a
   browser accepts (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``, full-width digits,
   ``[::ffff:127.0.0.1]``) are normalised and checked; reserved names (``localhost``, ``*.local``,
   ``*.internal``, single-label names that search domains would complete) are refused.
2. At connect time every new TCP connection resolves its host exactly once, refuses it unless
   *every* address is public, and dials one of those checked addresses (never a second lookup, so
   there is no DNS-rebinding window). urllib3 still knows the connection by its hostname, so the
   ``Host`` header, TLS SNI and certificate verification use the hostname.
3. Redirects are followed by hand, and every hop goes through 1 and 2 again.

What comes from requests-hardened: the same pinning idea (resolve, check, dial the checked IP)
and its maintained list of special-purpose ranges (:data:`EXTRA_BLOCKED_NET_RANGES`: CGNAT,
6to4, NAT64, ...). Its adapter is not used as is: it resolves with a hard-wired
``socket.getaddrinfo`` (no resolver to substitute, no time bound) and checks only the first
address; the guard here adds those, Python's ``is_global`` test plus multicast, reserved,
link-local and site-local, and the deadline below.

Bounds: connect and read timeouts per socket operation; a wall-clock ``deadline`` for the whole
fetch (retries, redirects, DNS and body included) enforced by a watchdog that shuts the sockets
down, so a peer trickling one byte a second, in the headers or the body, is cut on time; a cap
on the *decoded* body (read in chunks, so gzip and brotli bombs stop at the cap); HTML only.

Errors are the :class:`FetchFailed` subclasses below (plus ``ValidationFailed`` for a malformed
URL); their messages never contain an address the caller did not give us.
"""

from __future__ import annotations

import codecs
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import requests
from requests.adapters import HTTPAdapter
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.connection import allowed_gai_family, create_connection
from urllib3.util.request import ACCEPT_ENCODING

from app.errors import ApiError, ValidationFailed

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
MAX_URL_LENGTH = 2048
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BLOCKED_STATUSES = frozenset({401, 403, 429, 999})  # 999: LinkedIn's "go away"

_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_CHUNK_BYTES = 64 * 1024
_SNIFF_BYTES = 64 * 1024
_SCHEMES = {"http": 80, "https": 443}
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_PORT = re.compile(r"[0-9]{1,5}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_RESERVED_NAMES = ("localhost", "local", "internal", "home.arpa")  # RFC 6761, 6762, 8375; ICANN
_BLOCKED_NETWORKS = (*EXTRA_BLOCKED_NET_RANGES, ipaddress.ip_network("fec0::/10"))  # site-local
_LOGIN_PATH = re.compile(
    r"/(?:accounts/)?(?:log[-_]?in|sign[-_]?in|authwall|checkpoint|challenge|captcha)(?:[/.]|$)",
    re.IGNORECASE,
)
# Markers of bot-wall interstitials, matched in the lowercased first _SNIFF_BYTES. Only strings
# that appear on challenge pages themselves: Cloudflare also injects "challenge-platform" scripts
# into normal pages, and many profile pages load reCAPTCHA for their login forms.
_CHALLENGE_MARKERS = (
    b"<title>just a moment",  # Cloudflare interstitial
    b"window._cf_chl_opt",  # Cloudflare challenge script
    b"cf-browser-verification",  # Cloudflare (older)
    b"attention required! | cloudflare",  # Cloudflare block page
    b"captcha-delivery.com",  # DataDome
    b"px-captcha",  # PerimeterX / HUMAN
    b"incapsula incident id",  # Imperva
)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
# WHATWG Encoding: these labels mean windows-1252 on the web.
_WEB_CODEC_ALIASES = {"ascii": "cp1252", "iso8859-1": "cp1252"}


class FetchFailed(ApiError):
    """Base of every failure of :func:`fetch_page` except a malformed URL (``ValidationFailed``).

    ``details.reason`` says what happened (stable snake_case, e.g. ``status_503``).
    """

    status = 502
    code = "upstream_error"


class UrlNotAllowed(FetchFailed):
    """400 ``url_not_allowed``: a scheme other than http(s), credentials in the URL, or a host
    that is (or resolves to, or redirects to) a non-public address.

    ``details.reason``: ``scheme``, ``credentials``, ``non_public_host``, ``private_address``;
    ``details.redirect`` is true when a redirect led there.
    """

    status = 400
    code = "url_not_allowed"
    default_message = "Only public http(s) addresses can be fetched."


class CreatorNotFound(FetchFailed):
    """404 ``creator_not_found``: the site answered 404 or 410 (``details.status``)."""

    status = 404
    code = "creator_not_found"
    default_message = "The site says this page does not exist."


class UpstreamBlocked(FetchFailed):
    """502 ``upstream_blocked``: the site refused to serve the page to a robot.

    ``details.reason``: ``status_401``, ``status_403``, ``status_429`` (still limited after the
    retries, or asked for a wait longer than ``max_retry_after``), ``status_999``,
    ``login_redirect`` (redirected to a login wall) or ``challenge`` (captcha / bot check).
    With ``status_429``, ``details.retry_after`` carries the wait the site asked for (seconds),
    when it sent a readable ``Retry-After``.
    """

    status = 502
    code = "upstream_blocked"
    default_message = "The site refused to serve this page (login wall, captcha or rate limit)."


class UpstreamError(FetchFailed):
    """502 ``upstream_error``: the site failed or sent something unusable.

    ``details.reason``: ``status_<n>`` (5xx after the retries, other unexpected statuses),
    ``connection_error``, ``tls_error``, ``dns_error``, ``request_failed``, ``too_many_redirects``,
    ``bad_redirect``, ``too_large`` (with ``max_bytes``), ``not_html`` (with ``content_type``),
    ``bad_encoding`` (corrupt gzip/brotli/deflate).
    """

    status = 502
    code = "upstream_error"
    default_message = "The site returned an error or an unusable response."


class UpstreamTimeout(FetchFailed):
    """504 ``upstream_timeout``: ``details.reason`` is ``connect_timeout``, ``read_timeout``,
    ``dns_timeout`` or ``deadline`` (the whole fetch took longer than ``deadline`` seconds)."""

    status = 504
    code = "upstream_timeout"
    default_message = "The site did not answer in time."


def _failure(cls: type[FetchFailed], reason: str, **details: Any) -> FetchFailed:
    return cls(details={"reason": reason, **details})


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a TCP connection to ``host``:``port``, in its
    order, without duplicates (IPv6 only when this machine can use it). Raises ``OSError``."""
    infos = socket.getaddrinfo(host, port, family=allowed_gai_family(), type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchSettings:
    """How :func:`fetch_page` behaves. Times are seconds, sizes bytes."""

    connect_timeout: float = 5.0  # per TCP connect (and per DNS lookup)
    read_timeout: float = 10.0  # per socket read: the longest silence tolerated
    deadline: float = 20.0  # the whole fetch: DNS, connects, retries, redirects and body
    max_bytes: int = 5 * 1024 * 1024  # decoded (decompressed) body
    max_redirects: int = 5
    retries: int = 2  # extra attempts per request on connection errors, 429, 500, 502-504
    backoff: float = 0.5  # first retry delay; doubles per attempt
    max_retry_after: float = 5.0  # longest Retry-After honoured; longer ones end the fetch
    user_agent: str = DEFAULT_USER_AGENT
    accept_language: str = "en-US,en;q=0.9"
    allow_loopback: bool = False  # TEST-ONLY: also allow 127.0.0.0/8, ::1 and localhost
    resolver: Resolver = field(default=resolve_host, repr=False)  # (host, port) -> addresses
    ca_bundle: str | None = None  # TEST-ONLY: PEM file of extra CAs trusted besides certifi's

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "deadline", "max_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FetchSettings.{name} must be positive")
        for name in ("max_redirects", "retries", "backoff", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchSettings.{name} must not be negative")


DEFAULT_SETTINGS = FetchSettings()


@dataclass(frozen=True)
class FetchedPage:
    """A downloaded HTML page."""

    url: str  # final URL, after redirects, normalised as validate_public_url does
    status: int  # HTTP status of the final response (2xx)
    html: str
    content_type: str | None  # media type, lowercased, without parameters; None if not sent
    encoding: str  # Python codec the body was decoded with
    bytes_read: int  # decoded body bytes
    elapsed: float  # seconds, the whole fetch


# --- URL validation -----------------------------------------------------------------------------


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(details={"fields": [{"field": "url", "message": message}]})


def _ipv4_number(text: str) -> int | None:
    """One dotted part of an IPv4 address as browsers read it: decimal, 0x-hex or 0-octal."""
    base = 10
    if text.startswith("0x"):
        text, base = text[2:], 16
    elif len(text) > 1 and text.startswith("0"):
        text, base = text[1:], 8
    if not text:
        return 0
    try:
        return int(text, base)
    except ValueError:
        return None


def _parse_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """The WHATWG IPv4 parser: 1 to 4 numbers, the last filling the remaining bytes."""
    if len(labels) > 4:
        return None
    numbers = []
    for label in labels:
        number = _ipv4_number(label)
        if number is None:
            return None
        numbers.append(number)
    head, last = numbers[:-1], numbers[-1]
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    return ipaddress.IPv4Address(last + sum(n << (8 * (3 - i)) for i, n in enumerate(head)))


def _canonical_host(raw: str, bracketed: bool) -> tuple[str, IPAddress | None]:
    """The host as it goes into the normalised URL, and its address if it is an IP literal."""
    if bracketed:
        try:
            ip6 = ipaddress.IPv6Address(raw)
        except ValueError:
            raise _invalid("The IPv6 address is invalid.") from None
        if ip6.scope_id:
            raise _invalid("IPv6 zone identifiers are not allowed.")
        return f"[{ip6.compressed}]", ip6
    try:
        host = raw.lower().encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _invalid("The host name is invalid.") from None
    host = host.removesuffix(".")
    if not _HOSTNAME.fullmatch(host):
        raise _invalid("The host name is invalid.")
    labels = host.split(".")
    if labels[-1].isdigit() or labels[-1].startswith("0x"):  # "ends in a number": an IPv4 address
        ip4 = _parse_ipv4(labels)
        if ip4 is None:
            raise _invalid("The IPv4 address is invalid.")
        return str(ip4), ip4
    return host, None


def _address_allowed(ip: IPAddress, allow_loopback: bool) -> bool:
    """Whether a connection to ``ip`` may be made: public unicast only (plus loopback when
    ``allow_loopback``). IPv4-mapped IPv6 addresses are judged by the IPv4 address inside."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    special = ip.is_multicast or ip.is_reserved or ip.is_link_local
    return ip.is_global and not special and not any(ip in net for net in _BLOCKED_NETWORKS)


def validate_public_url(url: str, allow_loopback: bool = False) -> str:
    """Check ``url`` without any network I/O and return it normalised.

    Normalised: lowercase scheme and host, host in IDNA (punycode) form, IP literals in canonical
    form, default port dropped, empty path as ``/``, fragment dropped. A host name that is not an
    IP literal is not resolved here; :func:`fetch_page` checks what it resolves to.

    ``allow_loopback`` is TEST-ONLY: it also admits loopback addresses and ``localhost``.

    Raises ``ValidationFailed`` (400 ``validation_error``) when ``url`` is not an absolute http(s)
    URL of at most ``MAX_URL_LENGTH`` characters with a valid host and port (whitespace, control
    characters and backslashes are refused), and ``UrlNotAllowed`` (400 ``url_not_allowed``) for
    another scheme, credentials, or a host that is not public.
    """
    if not isinstance(url, str) or not url.strip():
        raise _invalid("A URL is required.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if _BAD_URL_CHARS.search(url):
        raise _invalid("The URL contains whitespace, control characters or a backslash.")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _invalid("The URL is malformed.") from None
    scheme = parts.scheme.lower()
    if scheme and scheme not in _SCHEMES:
        raise _failure(UrlNotAllowed, "scheme")
    if not scheme or not parts.netloc:
        raise _invalid("The URL must be an absolute http:// or https:// URL.")
    if "@" in parts.netloc:
        raise _failure(UrlNotAllowed, "credentials")

    netloc = parts.netloc
    bracketed = netloc.startswith("[")
    if bracketed:
        raw_host, _, rest = netloc[1:].partition("]")
    else:
        raw_host, colon, port_text = netloc.partition(":")
        rest = colon + port_text
    if rest and not rest.startswith(":"):
        raise _invalid("The URL is malformed.")
    port_text = rest[1:]
    if port_text and (not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536):
        raise _invalid("The port is invalid.")
    if not raw_host:
        raise _invalid("The URL has no host.")

    host, ip = _canonical_host(raw_host, bracketed)
    if ip is not None:
        if not _address_allowed(ip, allow_loopback):
            raise _failure(UrlNotAllowed, "private_address")
    elif not (allow_loopback and (host == "localhost" or host.endswith(".localhost"))):
        reserved = any(host == name or host.endswith("." + name) for name in _RESERVED_NAMES)
        if reserved or "." not in host:
            raise _failure(UrlNotAllowed, "non_public_host")

    port = f":{int(port_text)}" if port_text and int(port_text) != _SCHEMES[scheme] else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}{port}{parts.path or '/'}{query}"


def _for_log(url: str) -> str:
    """``url`` without its query (which may carry secrets), its path cut to 80 characters."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path[:80]}"


# --- connect-time guard -------------------------------------------------------------------------


def _call_with_timeout(func: Callable[[], Any], timeout: float) -> Any:
    """``func()`` in a daemon thread, abandoned (``TimeoutError``) after ``timeout`` seconds:
    the system resolver cannot be interrupted, only stopped being waited for."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="fetch-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _FetchGuard:
    """The state one fetch shares with its connections: the address policy, the resolver and
    the deadline, whose watchdog shuts down every socket of the fetch when it expires."""

    def __init__(self, settings: FetchSettings, started: float) -> None:
        self.settings = settings
        self.deadline_at = started + settings.deadline
        self.expired = False
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, self.remaining()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return self.deadline_at - time.monotonic()

    def check(self) -> None:
        """Raise 504 ``upstream_timeout`` (reason ``deadline``) if the deadline has passed."""
        if self.expired or self.remaining() <= 0:
            raise _failure(UpstreamTimeout, "deadline")

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for sock in self._sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def register(self, sock: socket.socket) -> None:
        """Put ``sock`` under the watchdog. A duplicate descriptor is kept: TLS wrapping
        detaches the original, and the duplicate cannot be reused by another connection."""
        with self._lock:
            if self.expired:
                sock.close()
                raise _failure(UpstreamTimeout, "deadline")
            self._sockets.append(sock.dup())

    def close(self) -> None:
        """Stop the watchdog and release the duplicate descriptors."""
        self._timer.cancel()
        with self._lock:
            self._closed = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to dial for ``host``, each checked; IP literals are not looked up.

        Raises 400 ``url_not_allowed`` (reason ``private_address``) if any address is not
        public, 502 ``upstream_error`` (``dns_error``) if the name does not resolve, 504
        ``upstream_timeout`` (``dns_timeout`` / ``deadline``) if resolution takes too long.
        """
        host = host.strip("[]")
        try:
            ipaddress.ip_address(host)
            addresses: Sequence[str] = [host]
        except ValueError:
            self.check()
            timeout = min(self.settings.connect_timeout, self.remaining())
            try:
                addresses = _call_with_timeout(lambda: self.settings.resolver(host, port), timeout)
            except TimeoutError:
                raise _failure(UpstreamTimeout, "dns_timeout") from None
            except OSError:
                raise _failure(UpstreamError, "dns_error") from None
        if not addresses:
            raise _failure(UpstreamError, "dns_error")
        allow_loopback = self.settings.allow_loopback
        if not all(_address_allowed(ipaddress.ip_address(a), allow_loopback) for a in addresses):
            log.info("fetch refused: %s resolves to a non-public address", host)
            raise _failure(UrlNotAllowed, "private_address")
        return list(addresses)


class _GuardedConnectionMixin:
    """Replaces urllib3's ``_new_conn``: dial only addresses the fetch guard resolved and
    checked. ``self.host`` stays the hostname, so ``Host``, SNI and certificate checks use it."""

    host: str
    port: int
    source_address: tuple[str, int] | None
    socket_options: Any

    def __init__(self, *args: Any, fetch_guard: _FetchGuard | None = None, **kwargs: Any) -> None:
        self.fetch_guard = fetch_guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        guard = self.fetch_guard
        if guard is None:  # fail closed if this class is ever used outside fetch_page
            raise RuntimeError("guarded connection without a fetch guard")
        last_error: OSError | None = None
        for address in guard.resolve(self.host, self.port):
            guard.check()
            timeout = min(guard.settings.connect_timeout, guard.remaining())
            try:
                sock = create_connection(
                    (address, self.port),
                    timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                last_error = exc
                continue
            guard.register(sock)
            return sock
        if isinstance(last_error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
        raise NewConnectionError(self, f"Failed to connect to {self.host}: {last_error}")


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    """A requests adapter (one per fetch) whose pools make only guarded connections."""

    def __init__(self, guard: _FetchGuard) -> None:
        self._guard = guard
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._guard.settings.ca_bundle:
            kwargs["ssl_context"] = _context_with_extra_cas(self._guard.settings.ca_bundle)
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> HTTPConnectionPool:
        pool = super().get_connection_with_tls_context(*args, **kwargs)
        if not isinstance(pool, _GuardedHTTPPool | _GuardedHTTPSPool):  # e.g. a proxy's pool
            raise RuntimeError("unguarded connection pool")
        pool.conn_kw["fetch_guard"] = self._guard
        return pool


def _context_with_extra_cas(ca_bundle: str) -> ssl.SSLContext:
    """A verifying TLS context trusting certifi's CAs plus those in ``ca_bundle`` (PEM)."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_verify_locations(cafile=ca_bundle)
    return context


def _new_session(guard: _FetchGuard) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc or CA bundle from the environment
    adapter = _GuardedAdapter(guard)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {
            "User-Agent": guard.settings.user_agent,
            "Accept": _ACCEPT,
            "Accept-Language": guard.settings.accept_language,
            "Accept-Encoding": ACCEPT_ENCODING,  # exactly what urllib3 can decode here
        }
    )
    return session


# --- HTTP ---------------------------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date), if readable."""
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _is_challenge(response: requests.Response) -> bool:
    return "cf-mitigated" in response.headers  # Cloudflare marks its challenge responses


def _status_error(response: requests.Response) -> FetchFailed:
    """The error a response that is not a usable 2xx page means."""
    status = response.status_code
    if _is_challenge(response):
        return _failure(UpstreamBlocked, "challenge", status=status)
    if status in (404, 410):
        return CreatorNotFound(details={"reason": f"status_{status}", "status": status})
    if status in BLOCKED_STATUSES:
        return _failure(UpstreamBlocked, f"status_{status}", status=status)
    return _failure(UpstreamError, f"status_{status}", status=status)


def _get(
    session: requests.Session,
    guard: _FetchGuard,
    url: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
) -> requests.Response:
    """One request (headers only, body left streaming), retried with exponential backoff on
    connection errors and ``RETRY_STATUSES`` while retries and the deadline allow. Returns the
    first response that is not retryable; raises the mapped error once it gives up."""
    settings = guard.settings
    attempt = 0
    while True:
        attempt += 1
        guard.check()
        remaining = guard.remaining()
        timeout = (min(settings.connect_timeout, remaining), min(settings.read_timeout, remaining))
        delay = settings.backoff * 2 ** (attempt - 1)
        try:
            response = session.request(
                method,
                url,
                headers=headers,
                data=data,
                stream=True,
                allow_redirects=False,
                timeout=timeout,
            )
        except requests.RequestException as exc:
            if guard.expired:
                raise _failure(UpstreamTimeout, "deadline") from exc
            if isinstance(exc, requests.ConnectTimeout):
                raise _failure(UpstreamTimeout, "connect_timeout") from exc
            if isinstance(exc, requests.Timeout):
                raise _failure(UpstreamTimeout, "read_timeout") from exc
            if isinstance(exc, requests.exceptions.SSLError):
                raise _failure(UpstreamError, "tls_error") from exc
            if not isinstance(exc, requests.ConnectionError):
                raise _failure(UpstreamError, "request_failed") from exc
            failure = _failure(UpstreamError, "connection_error")
        else:
            if response.status_code not in RETRY_STATUSES or _is_challenge(response):
                return response
            failure = _status_error(response)
            asked = _retry_after(response.headers.get("Retry-After"))
            response.close()
            if asked is not None:
                failure.details["retry_after"] = asked
                delay = asked if asked <= settings.max_retry_after else float("inf")
        if attempt > settings.retries or delay >= guard.remaining():
            raise failure
        log.debug("fetch retry %d of %s in %.2fs: %s", attempt, _for_log(url), delay, failure)
        time.sleep(delay)


def _redirect_target(url: str, location: str, allow_loopback: bool) -> str:
    """Where a redirect leads, validated like a URL from the caller; a login wall is blocked."""
    try:
        target = validate_public_url(urljoin(url, location), allow_loopback)
    except ValidationFailed:
        raise _failure(UpstreamError, "bad_redirect") from None
    except UrlNotAllowed as err:
        raise UrlNotAllowed(
            "The site redirected to an address that is not allowed.",
            details={**err.details, "redirect": True},
        ) from None
    if _LOGIN_PATH.search(urlsplit(target).path):
        raise _failure(UpstreamBlocked, "login_redirect")
    return target


def _read_body(response: requests.Response, guard: _FetchGuard) -> bytes:
    """The decoded body, refusing more than ``max_bytes`` of it; reads in bounded chunks so a
    compression bomb never inflates past the cap."""
    max_bytes = guard.settings.max_bytes
    too_large = _failure(UpstreamError, "too_large", max_bytes=max_bytes)
    declared = response.headers.get("Content-Length", "")
    if _DIGITS.fullmatch(declared) and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.raw.stream(_CHUNK_BYTES, decode_content=True):
            total += len(chunk)
            if total > max_bytes:
                raise too_large
            chunks.append(chunk)
    except Urllib3Error as exc:
        if guard.expired:
            raise _failure(UpstreamTimeout, "deadline") from exc
        if isinstance(exc, ReadTimeoutError):
            raise _failure(UpstreamTimeout, "read_timeout") from exc
        if isinstance(exc, DecodeError):
            raise _failure(UpstreamError, "bad_encoding") from exc
        raise _failure(UpstreamError, "connection_error") from exc
    guard.check()  # the watchdog may have cut the body short without an error
    return b"".join(chunks)


def _decode(body: bytes, content_type: str) -> tuple[str, str]:
    """``(text, codec)``: by BOM, else the header's charset, else a ``<meta>`` charset in the
    first 1024 bytes, else UTF-8 if the body is valid UTF-8, else windows-1252. Undecodable
    bytes become U+FFFD."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace"), "utf-8"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace"), "utf-16"
    header = _CHARSET_PARAM.search(content_type)
    meta = _META_CHARSET.search(body[:1024])
    candidates = [header.group(1) if header else None]
    if meta:  # a <meta> that could be read as ASCII cannot really be UTF-16
        label = meta.group(1).decode("ascii", errors="replace")
        candidates.append("utf-8" if label.lower().startswith("utf-16") else label)
    for label in candidates:
        if not label:
            continue
        try:
            codec = codecs.lookup(label).name
            codec = _WEB_CODEC_ALIASES.get(codec, codec)
            return body.decode(codec, errors="replace"), codec
        except LookupError:  # unknown, or not a text encoding (e.g. "base64")
            continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace"), "cp1252"


def _looks_like_markup(body: bytes) -> bool:
    """Cautious sniff for a response without ``Content-Type``: text that starts with ``<``."""
    head = body[:1024]
    return b"\x00" not in head and head.lstrip(b"\xef\xbb\xbf \t\r\n\f").startswith(b"<")


def fetch_page(
    url: str,
    settings: FetchSettings = DEFAULT_SETTINGS,
    headers: Mapping[str, str] | None = None,
) -> FetchedPage:
    """Download the HTML page at ``url`` (GET), following redirects, within ``settings``.

    ``headers`` are sent in addition to the fetcher's own (e.g. a consent ``Cookie``).

    The URL is checked by :func:`validate_public_url`, every connection by the address guard
    (see the module docstring), every redirect hop again. A response without ``Content-Type``
    is accepted only if its body starts with ``<`` and has no NUL bytes.

    Raises:
        ValidationFailed: 400 ``validation_error``, ``url`` is malformed.
        UrlNotAllowed: 400 ``url_not_allowed``, ``url``, its resolution or a redirect is not
            public, or uses another scheme or credentials.
        CreatorNotFound: 404 ``creator_not_found``, the site answered 404 or 410.
        UpstreamBlocked: 502 ``upstream_blocked``, 401, 403, 429 (after the retries), 999, a
            redirect to a login page, or a captcha / bot-check page.
        UpstreamError: 502 ``upstream_error``, other failures; see ``details.reason``.
        UpstreamTimeout: 504 ``upstream_timeout``, a timeout or the ``deadline``.
    """
    started = time.monotonic()
    current = validate_public_url(url, settings.allow_loopback)
    guard = _FetchGuard(settings, started)
    session = _new_session(guard)
    try:
        response, current = _follow(session, guard, current, headers)
        with response:
            if _is_challenge(response) or not 200 <= response.status_code < 300:
                raise _status_error(response)
            content_type = response.headers.get("Content-Type", "")
            media_type = content_type.partition(";")[0].strip().lower() or None
            if media_type is not None and media_type not in HTML_TYPES:
                raise _failure(UpstreamError, "not_html", content_type=media_type[:100])
            body = _read_body(response, guard)
        if media_type is None and not _looks_like_markup(body):
            raise _failure(UpstreamError, "not_html", content_type=None)
        if any(marker in body[:_SNIFF_BYTES].lower() for marker in _CHALLENGE_MARKERS):
            raise _failure(UpstreamBlocked, "challenge", status=response.status_code)
        html, encoding = _decode(body, content_type)
    except FetchFailed as err:
        log.info("fetch %s failed: %s %s", _for_log(current), err.code, err.details.get("reason"))
        raise
    finally:
        guard.close()
        session.close()
    elapsed = time.monotonic() - started
    log.info("fetched %s: %d bytes in %.2fs", _for_log(current), len(body), elapsed)
    return FetchedPage(
        url=current,
        status=response.status_code,
        html=html,
        content_type=media_type,
        encoding=encoding,
        bytes_read=len(body),
        elapsed=elapsed,
    )


def _follow(
    session: requests.Session,
    guard: _FetchGuard,
    url: str,
    headers: Mapping[str, str] | None,
) -> tuple[requests.Response, str]:
    """GET ``url``, following up to ``max_redirects`` redirects, each hop checked again.
    Returns the final response (body unread) and its URL."""
    settings = guard.settings
    current = url
    for _ in range(settings.max_redirects + 1):
        response = _get(session, guard, current, headers=headers)
        if not response.is_redirect:
            return response, current
        location = response.headers["Location"]
        response.close()
        target = _redirect_target(current, location, settings.allow_loopback)
        log.debug("fetch redirect %s -> %s", _for_log(current), _for_log(target))
        current = target
    raise _failure(UpstreamError, "too_many_redirects", max_redirects=settings.max_redirects)


@dataclass(frozen=True)
class FetchedResponse:
    """Any HTTP response (an API's JSON, an error body): status, headers and the raw body."""

    url: str  # final URL, after redirects
    status: int
    headers: Mapping[str, str] = field(repr=False)  # case-insensitive (requests' dict)
    body: bytes = field(repr=False)
    content_type: str | None  # media type, lowercased, without parameters

    def json(self) -> Any:
        """The body decoded as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))


def fetch_response(
    url: str,
    settings: FetchSettings = DEFAULT_SETTINGS,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
) -> FetchedResponse:
    """Make one API request through the same guard and bounds as :func:`fetch_page`.

    Unlike ``fetch_page`` any status and content type is returned (the caller reads the API's
    own error body); GET follows redirects, other methods do not. ``headers`` (credentials
    included) are sent but never logged; only the URL without its query is.

    Raises:
        ValidationFailed: 400 ``validation_error``, ``url`` is malformed.
        UrlNotAllowed: 400 ``url_not_allowed``, the URL, its address or a redirect is not public.
        UpstreamBlocked: 502 ``upstream_blocked``, 429 after the retries, a Cloudflare
            challenge or a redirect to a login page.
        UpstreamError: 502 ``upstream_error``, 5xx after the retries, connection, TLS, size.
        UpstreamTimeout: 504 ``upstream_timeout``, a timeout or the ``deadline``.
    """
    started = time.monotonic()
    current = validate_public_url(url, settings.allow_loopback)
    guard = _FetchGuard(settings, started)
    session = _new_session(guard)
    session.headers["Accept"] = "application/json"
    try:
        if method == "GET":
            response, current = _follow(session, guard, current, headers)
        else:
            response = _get(session, guard, current, method=method, headers=headers, data=data)
        with response:
            if _is_challenge(response):
                raise _status_error(response)
            content_type = response.headers.get("Content-Type", "")
            body = _read_body(response, guard)
    except FetchFailed as err:
        log.info("fetch %s failed: %s %s", _for_log(current), err.code, err.details.get("reason"))
        raise
    finally:
        guard.close()
        session.close()
    log.info(
        "fetched %s: status %d, %d bytes in %.2fs",
        _for_log(current),
        response.status_code,
        len(body),
        time.monotonic() - started,
    )
    return FetchedResponse(
        url=current,
        status=response.status_code,
        headers=response.headers,
        body=body,
        content_type=content_type.partition(";")[0].strip().lower() or None,
    )
