"""``./scripts/serve``, run for real: a "ready" line once the API answers, the documented rate
limit enforced exactly (one process), a demo key replaced on every start, and every way of
stopping (SIGTERM, SIGINT, Ctrl-C to the process group) stops the API, the worker and the
embedded Postgres and exits 0, so the next start on the same port works. Also: several gunicorn
processes with per-process limiter storage are refused."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
KEY_RE = re.compile(r"cs_live_[0-9A-Za-z]{36}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """``./scripts/serve`` in its own session, output collected line by line."""

    def __init__(self, port: int, data_dir: Path, **env: str) -> None:
        self.port = port
        self.lines: list[str] = []
        environment = {
            **os.environ,
            "CREATORSCRAPE_SKIP_INSTALL": "1",  # the test venv is complete; no network
            "PORT": str(port),
            "EMBEDDED_PG_DIR": str(data_dir / "postgres"),
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.process = subprocess.Popen(
            ["./scripts/serve"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, prefix: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {prefix!r} line; output:\n{self.output[-3000:]}")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def kill_everything(self) -> None:
        for proc in self.descendants():
            proc.kill()
        self.process.kill()


def postgres_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(part == str(data_dir / "postgres") for part in cmdline):
            found.append(proc)
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="creatorscrape-serve-"))
    yield path
    for proc in postgres_of(path):
        proc.kill()


def stop(serve: Serve, how: str) -> int:
    if how == "SIGTERM":
        serve.process.send_signal(signal.SIGTERM)
    elif how == "SIGINT":
        serve.process.send_signal(signal.SIGINT)
    else:  # Ctrl-C in a terminal: SIGINT to the foreground process group (the script's own)
        os.killpg(serve.process.pid, signal.SIGINT)
    try:
        return serve.process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        serve.kill_everything()
        raise


def assert_every_documented_request_fits(base: str) -> None:
    longest_url = "https://example.com/" + "\U0001f600" * 2028  # maxLength 2048, 4-byte chars
    response = requests.get(f"{base}/v1/creators/profile", params={"url": longest_url}, timeout=10)
    assert len(response.request.url) > 24_000
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    accented = requests.get(
        f"{base}/v1/creators/profile",
        params={"url": "https://example.com/" + "é" * 700},
        timeout=10,
    )
    assert accented.json()["error"]["code"] == "invalid_api_key"  # the 414 case
    big_header = requests.get(f"{base}/healthz", headers={"X-Padding": "a" * 16_000}, timeout=10)
    assert big_header.status_code == 200
    too_long = requests.get(f"{base}/v1/credits/balance?pad=" + "a" * 40_000, timeout=10)
    assert too_long.status_code == 414 and too_long.json()["error"]["code"] == "uri_too_long"


def add_dead_database_user(data_dir: Path) -> None:
    """Put the pid of an exited process on pgserver's list of the server's users, as a user
    killed with SIGKILL leaves it."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    users_file = data_dir / "postgres" / ".handle_pids.json"
    users_file.write_text(json.dumps([*json.loads(users_file.read_text()), gone.pid]))


def test_serve_enforces_the_limit_and_every_stop_stops_everything(data_dir):
    port = free_port()
    keys = []
    for how in ("SIGTERM", "SIGINT", "Ctrl-C"):
        serve = Serve(port, data_dir, RATELIMIT_PLAN_LIMITS='{"free": "5 per minute"}')
        try:
            ready = serve.wait_for("ready: ")
            assert f"http://127.0.0.1:{port}" in ready
            keys.append(KEY_RE.search(serve.output).group(0))
            children = serve.descendants()
            assert postgres_of(data_dir)
            base = f"http://127.0.0.1:{port}"
            assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
            if how == "SIGTERM":  # one process counts every call: exactly the documented limit
                statuses = [
                    requests.get(
                        f"{base}/v1/credits/balance", headers={"x-api-key": keys[-1]}, timeout=10
                    ).status_code
                    for _ in range(12)
                ]
                assert statuses == [200] * 5 + [429] * 7
            if how == "SIGINT":  # gunicorn lets every request the OpenAPI document allows in
                assert_every_documented_request_fits(base)
            if how == "Ctrl-C":  # a user of the database that died without its exit handlers
                add_dead_database_user(data_dir)
        except BaseException:
            serve.kill_everything()
            raise
        assert stop(serve, how) == 0, serve.output[-3000:]
        time.sleep(0.5)
        assert [p for p in children if p.is_running() and p.status() != "zombie"] == []
        assert postgres_of(data_dir) == [], (
            f"{how}: the embedded Postgres still runs; users: "
            f"{(data_dir / 'postgres' / '.handle_pids.json').read_text()}\n{serve.output[-4000:]}"
        )
        assert port_is_free(port), f"{how}: the port is still held"
    assert len(set(keys)) == 3
    assert "replaces earlier demo keys" in serve.output


def test_several_processes_with_memory_storage_are_refused(data_dir):
    serve = Serve(free_port(), data_dir, WEB_CONCURRENCY="2", RATELIMIT_STORAGE_URI="memory://")
    try:
        code = serve.process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        serve.kill_everything()
        raise
    assert code != 0
    assert "would each count rate limits separately" in serve.output
    assert "ready: " not in serve.output
    time.sleep(0.5)
    assert postgres_of(data_dir) == []
