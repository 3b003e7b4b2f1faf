"""A local HTTPS server that answers for real ``https://`` host names with recorded responses.

It stands in for the public APIs and pages (which tests cannot reach). ``trustme`` makes a
throwaway CA and a certificate for the host names; the app trusts that CA through the test-only
``FETCH_CA_BUNDLE`` setting and reaches the server through ``FETCH_RESOLVER`` (every name
resolves to this server's loopback address). It listens on port 443 of a random 127.x.y.z
address, so the URLs are exactly the real ones and parallel test sessions do not collide.

Routes are ``(host, path)`` -> a list of :class:`Reply` (served in turn, the last one repeated)
or a function of the :class:`Seen` request. Every request is recorded in ``server.seen``.
"""

from __future__ import annotations

import contextlib
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"


@dataclass(frozen=True)
class Reply:
    """One response: status, body (bytes, or JSON-able data), content type, extra headers and
    an optional delay in seconds before answering."""

    status: int = 200
    body: Any = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def recorded(relative: str, status: int = 200, **kwargs: Any) -> Reply:
    """A reply with the body of ``tests/fixtures/sources/<relative>``."""
    path = FIXTURES / relative
    content_type = kwargs.pop(
        "content_type",
        "text/html; charset=utf-8" if path.suffix == ".html" else "application/json; charset=utf-8",
    )
    return Reply(status, path.read_bytes(), content_type, **kwargs)


@dataclass(frozen=True)
class Seen:
    """A request the server received."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Route = list[Reply] | Callable[[Seen], Reply]


class _Handler(BaseHTTPRequestHandler):
    server: TlsServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        seen = Seen(
            self.command,
            host,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        reply = self.server.reply_for(seen)
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.payload()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class TlsServer(ThreadingHTTPServer):
    """``with TlsServer(["public.api.bsky.app"]) as server: server.route(...)``."""

    daemon_threads = True

    def __init__(self, hostnames: Iterable[str]) -> None:
        self.address = (
            f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        )
        try:
            super().__init__((self.address, 443), _Handler)
        except PermissionError:
            pytest.skip("binding port 443 on loopback needs root or CAP_NET_BIND_SERVICE")
        self.ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*hostnames).configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.routes: dict[tuple[str, str], Route] = {}
        self.served: dict[tuple[str, str], int] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def route(self, host: str, path: str, *replies: Reply | Callable[[Seen], Reply]) -> None:
        """Answer ``host`` + ``path`` with ``replies`` in turn (the last one repeats), or with
        a function of the request. Unrouted requests get a 404 with an empty JSON object."""
        if len(replies) == 1 and callable(replies[0]):
            self.routes[(host, path)] = replies[0]  # type: ignore[assignment]
        else:
            self.routes[(host, path)] = list(replies)  # type: ignore[arg-type]
        self.served[(host, path)] = 0

    def reply_for(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            route = self.routes.get((seen.host, seen.path))
            if route is None:
                return Reply(404, {})
            if callable(route):
                return route(seen)
            index = min(self.served[(seen.host, seen.path)], len(route) - 1)
            self.served[(seen.host, seen.path)] += 1
            return route[index]

    def requests_to(self, host: str, path: str | None = None) -> list[Seen]:
        """The requests received for ``host`` (and ``path``)."""
        with self.lock:
            return [s for s in self.seen if s.host == host and (path is None or s.path == path)]

    def resolver(self, host: str, port: int) -> list[str]:
        """A ``FETCH_RESOLVER``: every name is this server."""
        return [self.address]

    def write_ca(self, directory: Path) -> str:
        """Write the throwaway CA as PEM under ``directory``; returns the path."""
        path = directory / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def reset(self) -> None:
        """Forget routes and recorded requests."""
        with self.lock:
            self.routes.clear()
            self.served.clear()
            self.seen.clear()

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


@contextlib.contextmanager
def app_reaching(tls: TlsServer, database_url: str) -> Any:
    """An app for tests whose fetcher reaches ``tls`` under the real host names (its CA trusted,
    loopback allowed), with short fetch bounds (1 s connect/read, 4 s deadline, no retries) and
    the profile cache off."""
    from tests.conftest import app_for_tests

    with app_for_tests(
        database_url,
        FETCH_ALLOW_LOOPBACK=True,
        FETCH_RESOLVER=tls.resolver,
        FETCH_CA_BUNDLE=tls.ca_path,
        FETCH_CONNECT_TIMEOUT=1.0,
        FETCH_READ_TIMEOUT=1.0,
        FETCH_DEADLINE=4.0,
        FETCH_RETRIES=0,
        PROFILE_CACHE_TTL=0,
    ) as flask_app:
        yield flask_app
