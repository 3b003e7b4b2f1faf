"""A local HTTP server of saved real creator pages, with injectable failures.

It stands in for the public web (which tests cannot reach): ``/<platform>/<name>`` serves
``shared/fixtures/creators/<platform>/<name>.html`` as ``text/html``. Special paths inject
upstream behaviour:

- ``/status/<code>``: that status with a small HTML body (404, 500, 503, 403, 429, ...)
- ``/sleep/<seconds>``: answers after ``seconds`` (for timeouts)
- ``/big/<bytes>``: an HTML body of that many bytes
- ``/json``: ``application/json`` (not a page)
- ``/latency/<ms>/<platform>/<name>``: a fixture page after ``ms`` milliseconds
- ``/flaky/<n>/<platform>/<name>``: 500 for the first ``n`` requests of that path, then the page

Every request is counted in ``server.hits[path]``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHARED = Path(
    os.environ.get("CREATORSCRAPE_SHARED", Path(__file__).resolve().parents[2] / "shared")
)
FIXTURES = SHARED / "fixtures" / "creators"


def fixture_pages() -> list[tuple[str, str]]:
    """(platform, name) of every saved page."""
    return sorted((p.parent.name, p.stem) for p in FIXTURES.glob("*/*.html"))


class _Handler(BaseHTTPRequestHandler):
    server: FixtureServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def _page(self, platform: str, name: str) -> None:
        path = FIXTURES / platform / f"{name}.html"
        if not path.is_file():
            self._send(404, b"<html><body>Not found</body></html>")
            return
        self._send(200, path.read_bytes())

    def do_GET(self) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        with self.server.lock:
            self.server.hits[self.path] += 1
            hits = self.server.hits[self.path]
        match parts:
            case ["status", code]:
                self._send(int(code), f"<html><body>status {code}</body></html>".encode())
            case ["sleep", seconds]:
                time.sleep(float(seconds))
                self._send(200, b"<html><body>late</body></html>")
            case ["big", size]:
                self._send(200, b"<html><body>" + b"a" * int(size) + b"</body></html>")
            case ["json"]:
                self._send(200, b'{"not": "html"}', "application/json")
            case ["latency", ms, platform, name]:
                time.sleep(int(ms) / 1000)
                self._page(platform, name)
            case ["flaky", n, platform, name]:
                if hits <= int(n):
                    self._send(500, b"<html><body>flaky</body></html>")
                else:
                    self._page(platform, name)
            case [platform, name]:
                self._page(platform, name)
            case _:
                self._send(404, b"<html><body>Not found</body></html>")


class FixtureServer(ThreadingHTTPServer):
    """``with FixtureServer() as server: server.url("/youtube/onemedia-2024")``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
