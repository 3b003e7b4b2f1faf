"""Tests for app.scraping.fetch against real HTTP servers on loopback.

Nothing here may reach another address: the autouse ``fetch_tripwire`` fixture makes every
``connect`` to a non-loopback address, and every lookup of a name other than ``localhost``, fail
the test before any packet is sent, so a broken guard shows up as a failure, not as traffic.
Refusals of loopback addresses are proven by a listening server that counts its connections.
"""

from __future__ import annotations

import dataclasses
import gzip
import ipaddress
import logging
import socket
import ssl
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.errors import ValidationFailed
from app.scraping.fetch import (
    CreatorNotFound,
    FetchSettings,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
    UrlNotAllowed,
    fetch_page,
    validate_public_url,
)
from tests.fixture_server import FIXTURES

HTML = "<!doctype html><html><head><title>Café</title></head><body>Ünïcødé ✓</body></html>"
MiB = 1024 * 1024

# Loopback allowed (test-only), short timeouts and backoff so failures are fast.
LOCAL = FetchSettings(
    allow_loopback=True, connect_timeout=1, read_timeout=2, deadline=5, backoff=0.01
)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    """Overrides the suite's database-cleaning fixture: fetch tests use no database."""
    yield


# --- tripwire -----------------------------------------------------------------------------------


def _is_local(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified  # the unspecified address means this host


@pytest.fixture(autouse=True)
def fetch_tripwire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail loudly, without dialling, on a connection to anything but this host, and without
    querying DNS, on a lookup of any name but ``localhost`` (IP literals need no query)."""
    violations: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check_address(address: object) -> None:
        if isinstance(address, tuple) and not _is_local(str(address[0])):
            violations.append(f"connect {address!r}")
            pytest.fail(f"TRIPWIRE: attempted connection to {address!r}", pytrace=True)

    def connect(self: socket.socket, address: object) -> None:
        check_address(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check_address(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name != "localhost":
            try:
                ipaddress.ip_address(str(name).split("%")[0])
            except ValueError:
                violations.append(f"resolve {name!r}")
                pytest.fail(f"TRIPWIRE: attempted DNS lookup of {name!r}", pytrace=True)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield violations
    assert violations == []


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted HTTP response."""

    status: int = 200
    body: bytes = HTML.encode()
    headers: dict[str, str] = field(
        default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"}
    )
    chunked: bool = False


class ScriptedServer:
    """A real HTTP/1.1 server on a loopback address (HTTPS with ``tls``). Each path plays its
    list of replies in order (the last one repeats); it records every request and counts
    accepted connections."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                outer.connections += 1
                return super().get_request()

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients hanging up mid-body (bombs, caps) are expected here

        self.httpd = Server((host, 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.port = self.httpd.server_address[1]
        self.host = f"[{host}]" if ":" in host else host
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for seen, _ in self.requests if seen == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.partition("?")[0]
        self.requests.append((path, dict(handler.headers)))
        replies = self.routes.get(path) or [Reply(404, b"<html>missing</html>")]
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for start in range(0, len(reply.body), 64 * 1024):
                piece = reply.body[start : start + 64 * 1024]
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)


class RawServer:
    """A bare TCP listener on 127.0.0.1 for peers that misbehave below HTTP: each accepted
    socket goes to ``behave(conn, index, stop)`` in its own thread."""

    def __init__(self, behave: Callable[[socket.socket, int, threading.Event], None]) -> None:
        self.behave = behave
        self.accepted = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            index, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._run, args=(conn, index), daemon=True).start()

    def _run(self, conn: socket.socket, index: int) -> None:
        with conn, suppress(OSError):  # the client hung up, as the tests intend
            self.behave(conn, index, self.stop)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    started: list[RawServer] = []

    def start(behave: Callable[[socket.socket, int, threading.Event], None]) -> RawServer:
        started.append(RawServer(behave))
        return started[-1]

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def server6() -> Iterator[ScriptedServer]:
    try:
        srv = ScriptedServer("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield srv
    srv.close()


# --- successful fetches -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("identity", bytes), ("gzip", gzip.compress), ("br", brotli.compress)],
)
def test_fetches_and_decodes_a_page(
    server: ScriptedServer, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": encoding}
    server.route("/creator", Reply(body=compress(HTML.encode()), headers=headers))

    page = fetch_page(server.url("/creator?tab=about"), LOCAL)

    assert page.html == HTML
    assert page.url == server.url("/creator?tab=about")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert page.encoding == "utf-8"
    assert page.bytes_read == len(HTML.encode())
    assert 0 < page.elapsed < 2
    sent = server.requests[0][1]
    assert sent["User-Agent"].startswith("Mozilla/5.0 (")
    assert sent["Accept-Language"] == "en-US,en;q=0.9"
    assert sent["Accept"].startswith("text/html,")
    assert {"gzip", "br"} <= set(sent["Accept-Encoding"].split(","))


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*/*.html")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_real_creator_pages_come_back_intact(server: ScriptedServer, path: Path) -> None:
    """Real pages, gzipped and without a charset in the header: the <meta> charset or the
    UTF-8 fallback decodes them, and none trips the captcha detector."""
    raw = path.read_bytes()
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    server.route("/page", Reply(body=gzip.compress(raw), headers=headers))

    page = fetch_page(server.url("/page"), LOCAL)

    assert page.html == raw.decode("utf-8")
    assert page.encoding == "utf-8"
    assert page.bytes_read == len(raw)


@pytest.mark.parametrize(
    ("content_type", "body", "text", "encoding"),
    [
        # iso-8859-1 means windows-1252 on the web: the curly quotes survive.
        ("text/html; charset=ISO-8859-1", b"caf\xe9 \x93hi\x94", "café “hi”", "cp1252"),
        (
            "text/html",
            b'<meta charset="windows-1251">\xcf\xf0\xe8',
            '<meta charset="windows-1251">При',
            "cp1251",
        ),
        ("text/html; charset=iso-8859-1", b"\xef\xbb\xbfna\xc3\xafve", "naïve", "utf-8"),
        ("text/html; charset=no-such-codec", "ok ✓".encode(), "ok ✓", "utf-8"),
        ("text/html; charset=base64", "ok ✓".encode(), "ok ✓", "utf-8"),
        ("text/html", b"caf\xe9", "café", "cp1252"),
        ("application/xhtml+xml; charset=utf-8", b"<html/>", "<html/>", "utf-8"),
    ],
    ids=["latin1-is-1252", "meta", "bom-wins", "unknown", "not-text-codec", "fallback", "xhtml"],
)
def test_charset_detection(
    server: ScriptedServer, content_type: str, body: bytes, text: str, encoding: str
) -> None:
    server.route("/", Reply(body=body, headers={"Content-Type": content_type}))

    page = fetch_page(server.url(), LOCAL)

    assert (page.html, page.encoding) == (text, encoding)


def test_missing_content_type_is_sniffed(server: ScriptedServer) -> None:
    server.route("/markup", Reply(body=b"\n  <html><p>hi</p></html>", headers={}))
    server.route("/binary", Reply(body=b"\x89PNG\r\n\x1a\n\x00\x00", headers={}))

    page = fetch_page(server.url("/markup"), LOCAL)
    assert (page.html, page.content_type) == ("\n  <html><p>hi</p></html>", None)

    with pytest.raises(UpstreamError) as caught:
        fetch_page(server.url("/binary"), LOCAL)
    assert caught.value.details == {"reason": "not_html", "content_type": None}


def test_redirects_are_followed(server: ScriptedServer) -> None:
    server.route("/old", Reply(301, b"", {"Location": server.url("/mid")}))
    server.route("/mid", Reply(302, b"", {"Location": "/new?x=1"}))  # relative
    server.route("/new", Reply())

    page = fetch_page(server.url("/old"), LOCAL)

    assert page.url == server.url("/new?x=1")
    assert page.html == HTML
    assert [path for path, _ in server.requests] == ["/old", "/mid", "/new"]


# --- upstream failures --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_gone_pages_are_creator_not_found(server: ScriptedServer, status: int) -> None:
    server.route("/", Reply(status))

    with pytest.raises(CreatorNotFound) as caught:
        fetch_page(server.url(), LOCAL)

    assert (caught.value.status, caught.value.code) == (404, "creator_not_found")
    assert caught.value.details["status"] == status
    assert server.hits("/") == 1


def test_server_errors_are_retried_then_reported(server: ScriptedServer) -> None:
    server.route("/", Reply(500))

    with pytest.raises(UpstreamError) as caught:
        fetch_page(server.url(), dataclasses.replace(LOCAL, retries=2))

    assert (caught.value.status, caught.value.code) == (502, "upstream_error")
    assert caught.value.details["reason"] == "status_500"
    assert server.hits("/") == 3


def test_503_then_200_succeeds_on_retry(server: ScriptedServer) -> None:
    server.route("/", Reply(503), Reply())

    page = fetch_page(server.url(), LOCAL)

    assert page.html == HTML
    assert server.hits("/") == 2


def test_429_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.route("/", Reply(429, b"", {"Retry-After": "1"}), Reply())

    page = fetch_page(server.url(), LOCAL)

    assert page.html == HTML
    assert server.hits("/") == 2
    assert 0.9 < page.elapsed < 2


@pytest.mark.parametrize(("retry_after", "attempts"), [("0", 3), ("3600", 1)])
def test_persistent_429_is_blocked(server: ScriptedServer, retry_after: str, attempts: int) -> None:
    """Retried while the wait asked for is short; a long Retry-After ends the fetch at once."""
    server.route("/", Reply(429, b"", {"Retry-After": retry_after}))

    with pytest.raises(UpstreamBlocked) as caught:
        fetch_page(server.url(), LOCAL)

    assert (caught.value.status, caught.value.code) == (502, "upstream_blocked")
    assert caught.value.details["reason"] == "status_429"
    assert caught.value.details["retry_after"] == float(retry_after)
    assert server.hits("/") == attempts


@pytest.mark.parametrize("status", [401, 403, 999])
def test_refusals_are_blocked_without_retry(server: ScriptedServer, status: int) -> None:
    server.route("/", Reply(status))

    with pytest.raises(UpstreamBlocked) as caught:
        fetch_page(server.url(), LOCAL)

    assert caught.value.details["reason"] == f"status_{status}"
    assert server.hits("/") == 1


@pytest.mark.parametrize(
    "login", ["/accounts/login/?next=/pluto/", "/login", "/i/flow/login", "/authwall?trk=x"]
)
def test_redirect_to_a_login_wall_is_blocked(server: ScriptedServer, login: str) -> None:
    server.route("/creator", Reply(302, b"", {"Location": login}))

    with pytest.raises(UpstreamBlocked) as caught:
        fetch_page(server.url("/creator"), LOCAL)

    assert caught.value.details == {"reason": "login_redirect"}
    assert [path for path, _ in server.requests] == ["/creator"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=b"<html><head><title>Just a moment...</title></head></html>"),
        Reply(body=b"<script>window._cf_chl_opt={cvId: '3'}</script>"),
        Reply(body=b"<iframe src='https://geo.captcha-delivery.com/captcha/'></iframe>"),
        Reply(503, b"<html></html>", {"Content-Type": "text/html", "cf-mitigated": "challenge"}),
    ],
    ids=["cloudflare-title", "cloudflare-script", "datadome", "cf-mitigated-503"],
)
def test_challenge_pages_are_blocked(server: ScriptedServer, reply: Reply) -> None:
    server.route("/", reply)

    with pytest.raises(UpstreamBlocked) as caught:
        fetch_page(server.url(), LOCAL)

    assert caught.value.details["reason"] == "challenge"
    assert server.hits("/") == 1  # a challenge is not retried


def test_connection_reset_is_retried(raw_server: Callable[..., RawServer]) -> None:
    def reset_first(conn: socket.socket, index: int, stop: threading.Event) -> None:
        _read_request(conn)
        if index == 0:  # abortive close: the client sees ECONNRESET
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        body = HTML.encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )

    srv = raw_server(reset_first)

    page = fetch_page(srv.url(), LOCAL)

    assert page.html == HTML
    assert srv.accepted == 2


def test_refused_connection_is_retried_then_reported() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: connection refused

    with pytest.raises(UpstreamError) as caught:
        fetch_page(f"http://127.0.0.1:{port}/", LOCAL)

    assert caught.value.details == {"reason": "connection_error"}


def test_silent_server_is_a_read_timeout(raw_server: Callable[..., RawServer]) -> None:
    def silent(conn: socket.socket, index: int, stop: threading.Event) -> None:
        _read_request(conn)
        stop.wait(10)

    srv = raw_server(silent)
    started = time.monotonic()

    with pytest.raises(UpstreamTimeout) as caught:
        fetch_page(srv.url(), dataclasses.replace(LOCAL, read_timeout=0.3))

    assert (caught.value.status, caught.value.code) == (504, "upstream_timeout")
    assert caught.value.details == {"reason": "read_timeout"}
    assert time.monotonic() - started < 1.5
    assert srv.accepted == 1  # timeouts are not retried


def _trickle(head: bytes, drip: bytes) -> Callable[[socket.socket, int, threading.Event], None]:
    """A peer that sends ``head`` at once, then the byte ``drip`` every 0.1 s for 4 s (long
    enough that a broken deadline fails the test instead of hanging it)."""

    def behave(conn: socket.socket, index: int, stop: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(head)
        for _ in range(40):
            if stop.wait(0.1):
                return
            conn.sendall(drip)

    return behave


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n", b"x"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ", b"a"),
    ],
    ids=["body", "headers"],
)
def test_trickling_server_is_cut_at_the_deadline(
    raw_server: Callable[..., RawServer], head: bytes, drip: bytes
) -> None:
    """Every read succeeds within the read timeout; only the deadline can stop this."""
    srv = raw_server(_trickle(head, drip))
    started = time.monotonic()

    with pytest.raises(UpstreamTimeout) as caught:
        fetch_page(srv.url(), dataclasses.replace(LOCAL, deadline=1.0, read_timeout=2))

    elapsed = time.monotonic() - started
    assert caught.value.details == {"reason": "deadline"}
    assert 0.95 < elapsed < 1.5  # the peer keeps going for 4 s


def test_slow_dns_is_cut(server: ScriptedServer) -> None:
    def slow_resolver(host: str, port: int) -> list[str]:
        time.sleep(2)
        return ["127.0.0.1"]

    settings = dataclasses.replace(LOCAL, resolver=slow_resolver, connect_timeout=0.3)
    started = time.monotonic()

    with pytest.raises(UpstreamTimeout) as caught:
        fetch_page(server.url(host="slow-dns.example"), settings)

    assert caught.value.details == {"reason": "dns_timeout"}
    assert time.monotonic() - started < 1
    assert server.connections == 0


# --- size and type caps -------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_refused(server: ScriptedServer, chunked: bool) -> None:
    server.route("/", Reply(body=b"<html>" + b"a" * (2 * MiB), chunked=chunked))

    with pytest.raises(UpstreamError) as caught:
        fetch_page(server.url(), dataclasses.replace(LOCAL, max_bytes=MiB))

    assert caught.value.details == {"reason": "too_large", "max_bytes": MiB}


def test_body_at_the_cap_is_accepted(server: ScriptedServer) -> None:
    body = b"<html>" + b"a" * (MiB - 6)
    server.route("/", Reply(body=body, chunked=True))

    page = fetch_page(server.url(), dataclasses.replace(LOCAL, max_bytes=MiB))

    assert page.bytes_read == MiB


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros as 64 gzip members of 16 MiB each (RFC 1952 allows a series), ~1 MB."""
    return gzip.compress(bytes(16 * MiB), compresslevel=9) * 64


@pytest.fixture(scope="module")
def brotli_bomb() -> bytes:
    """1 GiB of zeros as one brotli stream, ~190 kB."""
    compressor = brotli.Compressor(quality=1)
    block = bytes(MiB)
    return b"".join([compressor.process(block) for _ in range(1024)] + [compressor.finish()])


@pytest.mark.parametrize(
    ("bomb", "encoding", "chunked"),
    [("gzip_bomb", "gzip", False), ("brotli_bomb", "br", True)],
    ids=["gzip", "brotli"],
)
def test_compression_bomb_stops_at_the_cap(
    server: ScriptedServer, request: pytest.FixtureRequest, bomb: str, encoding: str, chunked: bool
) -> None:
    body = request.getfixturevalue(bomb)
    assert len(body) < 2 * MiB  # so the Content-Length check cannot be what stops it
    headers = {"Content-Type": "text/html", "Content-Encoding": encoding}
    server.route("/", Reply(body=body, headers=headers, chunked=chunked))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamError) as caught:
            fetch_page(server.url(), dataclasses.replace(LOCAL, max_bytes=2 * MiB))
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert caught.value.details == {"reason": "too_large", "max_bytes": 2 * MiB}
    assert elapsed < 1.5  # inflating the whole GiB takes seconds
    assert peak < 6 * MiB  # the 2 MiB cap plus buffers, vs 1 GiB if inflated in memory


def test_corrupt_compression_is_reported(server: ScriptedServer) -> None:
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    server.route("/", Reply(body=b"\x1f\x8b\x08\x00garbage-not-deflate", headers=headers))

    with pytest.raises(UpstreamError) as caught:
        fetch_page(server.url(), LOCAL)

    assert caught.value.details == {"reason": "bad_encoding"}


@pytest.mark.parametrize("content_type", ["application/json", "image/png", "text/plain"])
def test_non_html_is_refused(server: ScriptedServer, content_type: str) -> None:
    server.route("/", Reply(body=b'{"a": 1}', headers={"Content-Type": content_type}))

    with pytest.raises(UpstreamError) as caught:
        fetch_page(server.url(), LOCAL)

    assert caught.value.details == {"reason": "not_html", "content_type": content_type}


def test_redirects_are_capped(server: ScriptedServer) -> None:
    server.route("/loop", Reply(302, b"", {"Location": "/loop"}))

    with pytest.raises(UpstreamError) as caught:
        fetch_page(server.url("/loop"), dataclasses.replace(LOCAL, max_redirects=3))

    assert caught.value.details == {"reason": "too_many_redirects", "max_redirects": 3}
    assert server.hits("/loop") == 4


# --- URL validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTPS://Example.COM:443/a/b?q=1#frag", "https://example.com/a/b?q=1"),
        ("http://example.com", "http://example.com/"),
        ("  http://example.com.:8080?x  ", "http://example.com:8080/?x"),
        ("http://bücher.de/über", "http://xn--bcher-kva.de/über"),
        ("http://0x5db8d822/", "http://93.184.216.34/"),
        ("http://[2606:4700:0::1111]/", "http://[2606:4700::1111]/"),
        ("https://www.instagram.com/pluto__travel/", "https://www.instagram.com/pluto__travel/"),
    ],
)
def test_validate_normalises(url: str, normalised: str) -> None:
    assert validate_public_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "private_address"),
        ("http://127.0.0.2:8080/", "private_address"),
        ("http://localhost/", "non_public_host"),
        ("http://api.localhost/", "non_public_host"),
        ("http://0.0.0.0/", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[::1]/", "private_address"),
        ("http://[::]/", "private_address"),
        ("http://[::ffff:127.0.0.1]/", "private_address"),
        ("http://[::ffff:7f00:1]/", "private_address"),
        ("http://[::127.0.0.1]/", "private_address"),
        ("http://2130706433/", "private_address"),
        ("http://0x7f000001/", "private_address"),
        ("http://0177.0.0.1/", "private_address"),
        ("http://127.1/", "private_address"),
        ("http://0x7f.0.0.1/", "private_address"),
        ("http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/", "private_address"),
        ("http://10.0.0.1/", "private_address"),
        ("http://172.16.0.1/", "private_address"),
        ("http://192.168.1.1/", "private_address"),
        ("http://100.64.0.1/", "private_address"),
        ("http://192.0.0.8/", "private_address"),
        ("http://198.18.0.1/", "private_address"),
        ("http://224.0.0.1/", "private_address"),
        ("http://255.255.255.255/", "private_address"),
        ("http://240.0.0.1/", "private_address"),
        ("http://[fe80::1]/", "private_address"),
        ("http://[fc00::1]/", "private_address"),
        ("http://[fec0::1]/", "private_address"),
        ("http://[ff02::1]/", "private_address"),
        ("http://[2002:a00:1::]/", "private_address"),  # 6to4 around 10.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "private_address"),  # NAT64 around 169.254.169.254
        ("http://[2001:db8::1]/", "private_address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "non_public_host"),
        ("http://printer.local/", "non_public_host"),
        ("http://intranet/", "non_public_host"),
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/file", "scheme"),
        ("gopher://example.com:70/_x", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/html,<p>x</p>", "scheme"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
    ],
)
def test_validate_refuses_non_public_targets(url: str, reason: str) -> None:
    with pytest.raises(UrlNotAllowed) as caught:
        validate_public_url(url)

    assert (caught.value.status, caught.value.code) == (400, "url_not_allowed")
    assert caught.value.details["reason"] == reason
    assert "127.0.0.1" not in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "example.com/creator",
        "//example.com/creator",
        "http://",
        "http:///path",
        "http://exa mple.com/",
        "http://example.com/a\nb",
        "http://evil.example\\@127.0.0.1/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://example.com:8o/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "http://999.1.1.1/",
        "http://1.2.3.4.5/",
        "http://08.0.0.1/",
        "http://a..b/",
        "http://exa$mple.com/",
        "http://" + "a" * 64 + ".com/",
        "http://example.com/" + "a" * 2100,
    ],
)
def test_validate_rejects_malformed_urls(url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_public_url(url)

    assert (caught.value.status, caught.value.code) == (400, "validation_error")
    assert caught.value.details["fields"][0]["field"] == "url"


def test_allow_loopback_admits_exactly_loopback() -> None:
    assert validate_public_url("http://127.0.0.1:8080/", allow_loopback=True)
    assert validate_public_url("http://localhost/x", allow_loopback=True)
    assert validate_public_url("http://[::1]/", allow_loopback=True)
    for url in ["http://0.0.0.0/", "http://10.0.0.1/", "http://169.254.169.254/", "http://[::]/"]:
        with pytest.raises(UrlNotAllowed):
            validate_public_url(url, allow_loopback=True)


# --- SSRF through fetch_page --------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",  # noqa: S104 - a URL host here, not a bind address
    ],
)
def test_fetch_refuses_loopback_by_default_without_connecting(
    server: ScriptedServer, host: str
) -> None:
    server.route("/", Reply())

    with pytest.raises(UrlNotAllowed):
        fetch_page(server.url(host=host))  # default settings: allow_loopback is False

    assert server.connections == 0


@pytest.mark.parametrize("host", ["[::1]", "[::]"])
def test_fetch_refuses_ipv6_loopback_without_connecting(server6: ScriptedServer, host: str) -> None:
    server6.route("/", Reply())

    with pytest.raises(UrlNotAllowed):
        fetch_page(server6.url(host=host))

    assert server6.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[fd00::1]/",
        "file:///etc/passwd",
        "ftp://example.com/",
        "gopher://example.com/",
    ],
)
def test_fetch_refuses_private_targets(url: str) -> None:
    """The tripwire fails the test if anything is dialled."""
    with pytest.raises(UrlNotAllowed):
        fetch_page(url)


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://10.0.0.1/", "private_address"),
        ("http://[fd00::1]/", "private_address"),
        ("http://2852039166/", "private_address"),  # 169.254.169.254 in decimal
        ("http://0.0.0.0:{port}/", "private_address"),
        ("http://[::]:{port}/", "private_address"),
        ("http://metadata.google.internal/", "non_public_host"),
        ("file:///etc/passwd", "scheme"),
        ("http://admin:pw@example.com/", "credentials"),
    ],
)
def test_redirect_to_a_non_public_target_is_refused(
    server: ScriptedServer, location: str, reason: str
) -> None:
    """Each hop is checked again: loopback is allowed here, but 0.0.0.0 (which would reach this
    very server) and private space are not, and the server sees only the first request."""
    server.route("/", Reply(302, b"", {"Location": location.format(port=server.port)}))

    with pytest.raises(UrlNotAllowed) as caught:
        fetch_page(server.url(), LOCAL)

    assert caught.value.details == {"reason": reason, "redirect": True}
    assert "169.254" not in caught.value.message and "10.0" not in caught.value.message
    assert server.connections == 1
    assert [path for path, _ in server.requests] == ["/"]


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.1"], ["169.254.169.254"], ["fd00::1"], ["::ffff:10.0.0.1"], ["127.0.0.1"]],
)
def test_host_resolving_to_non_public_address_is_refused(
    server: ScriptedServer, addresses: list[str]
) -> None:
    """DNS answers are checked before dialling (default settings: loopback refused too)."""
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return addresses

    with pytest.raises(UrlNotAllowed) as caught:
        fetch_page(server.url(host="creator.example"), FetchSettings(resolver=resolver))

    assert caught.value.details == {"reason": "private_address"}
    assert lookups == ["creator.example"]
    assert server.connections == 0


def test_any_non_public_answer_refuses_the_host(server: ScriptedServer) -> None:
    settings = dataclasses.replace(LOCAL, resolver=lambda host, port: ["127.0.0.1", "10.0.0.1"])

    with pytest.raises(UrlNotAllowed):
        fetch_page(server.url(host="creator.example"), settings)

    assert server.connections == 0


def test_checked_address_is_the_dialled_address(server: ScriptedServer) -> None:
    """DNS rebinding: the name is looked up once and the checked answer is dialled. A second
    lookup (say by urllib3 at connect time) would get 10.0.0.1 and trip the tripwire. The
    Host header still carries the name."""
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    lookups: list[str] = []

    def rebinding_resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return answers.pop(0)

    server.route("/creator", Reply())
    settings = dataclasses.replace(LOCAL, resolver=rebinding_resolver)

    page = fetch_page(server.url("/creator", host="creator.example"), settings)

    assert page.url == f"http://creator.example:{server.port}/creator"
    assert page.html == HTML
    assert lookups == ["creator.example"]
    assert server.connections == 1
    assert server.requests[0][1]["Host"] == f"creator.example:{server.port}"


# --- TLS ----------------------------------------------------------------------------------------


def _certificate(
    name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, signer: Any
) -> x509.Certificate:
    """A one-day certificate for ``name``: a CA when ``issuer`` is None, else a server
    certificate for the DNS name ``name`` issued by ``issuer``."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


class ThrowawayCA:
    """A certificate authority that lives for one test module, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _certificate("fetch-test CA", self.key, None, self.key)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, name: str) -> ssl.SSLContext:
        """A server TLS context with a certificate for the DNS name ``name`` issued here."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(name, key, self.cert, self.key)
        pem = self.directory / f"{name}.pem"
        pem.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        return context


@pytest.fixture(scope="module")
def fetch_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fetch_tls_trust(monkeypatch: pytest.MonkeyPatch, fetch_ca: ThrowawayCA) -> None:
    """requests verifies against its default CA bundle; point that at the throwaway CA."""
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(fetch_ca.ca_file))


@pytest.mark.usefixtures("fetch_tls_trust")
@pytest.mark.parametrize(
    ("certificate_for", "error"), [("creator.example", None), ("other.example", "tls_error")]
)
def test_https_verifies_the_hostname_on_the_checked_address(
    fetch_ca: ThrowawayCA, certificate_for: str, error: str | None
) -> None:
    """The pinned connection goes to 127.0.0.1, yet SNI and the certificate check use the
    name from the URL: a certificate for another name is refused."""
    server_names: list[str | None] = []
    context = fetch_ca.server_context(certificate_for)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = ScriptedServer(tls=context)
    server.route("/", Reply())
    settings = dataclasses.replace(LOCAL, resolver=lambda host, port: ["127.0.0.1"])
    try:
        if error is None:
            page = fetch_page(server.url(host="creator.example"), settings)
            assert page.html == HTML
            assert page.url == f"https://creator.example:{server.port}/"
            assert server.requests[0][1]["Host"] == f"creator.example:{server.port}"
        else:
            with pytest.raises(UpstreamError) as caught:
                fetch_page(server.url(host="creator.example"), settings)
            assert caught.value.details == {"reason": error}
            assert server.requests == []
    finally:
        server.close()
    assert server_names == ["creator.example"]


# --- settings and logging -----------------------------------------------------------------------


def test_default_settings_are_production_values() -> None:
    settings = FetchSettings()
    assert (settings.connect_timeout, settings.read_timeout, settings.deadline) == (5, 10, 20)
    assert (settings.max_bytes, settings.max_redirects, settings.retries) == (5 * MiB, 5, 2)
    assert settings.allow_loopback is False
    with pytest.raises(ValueError, match="deadline"):
        FetchSettings(deadline=0)
    with pytest.raises(ValueError, match="retries"):
        FetchSettings(retries=-1)


def test_logs_leave_out_the_query(server: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    server.route("/p", Reply(302, b"", {"Location": "/q?token=SECRET2"}))
    server.route("/q", Reply(503))

    with caplog.at_level(logging.DEBUG, logger="app.scraping.fetch"), pytest.raises(UpstreamError):
        fetch_page(server.url("/p?api_key=SECRET1"), LOCAL)

    assert "/p" in caplog.text and "/q" in caplog.text
    assert "SECRET" not in caplog.text
