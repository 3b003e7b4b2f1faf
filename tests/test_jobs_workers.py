"""Batch jobs end to end with real queue workers: ``flask --app wsgi worker`` subprocesses on the
test database, fetching from local HTTP servers (tests/fixture_server.py and a small server below
that measures per-host concurrency, answers 429 and receives webhooks).

Worker settings are short for the tests (heartbeat 0.5 s, stalled after 2 s, polls every 0.2 s).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.jobs import signing
from tests.conftest import app_for_tests, balance_of, fresh_client, ledger_sum, make_key, make_user
from tests.fixture_server import FIXTURES, FixtureServer

ROOT = Path(__file__).resolve().parent.parent
SMALL_PAGES = ["x/javilop-og-only", "telegram/unlimitedhangout", "personal/kikobeats.com"]

WORKER_ENV = {
    "FETCH_ALLOW_LOOPBACK": "true",
    "FETCH_CONNECT_TIMEOUT": "1",
    "FETCH_READ_TIMEOUT": "1",
    "FETCH_DEADLINE": "3",
    "FETCH_RETRIES": "1",
    "PROFILE_CACHE_TTL": "0",
    "JOBS_WORKER_CONCURRENCY": "8",
    "JOBS_POLL_INTERVAL": "0.2",
    "JOBS_HEARTBEAT_INTERVAL": "0.5",
    "JOBS_STALLED_TIMEOUT": "2",
    "JOBS_STALLED_CHECK_INTERVAL": "0.5",
    "JOBS_HOST_CONCURRENCY": "0",
    "JOBS_HOST_SPACING_MS": "0",
    "JOBS_RETRY_AFTER_DEFAULT": "1",
    "JOBS_WEBHOOK_BACKOFF": "0.3",
    "LOG_LEVEL": "WARNING",
}


class Workers:
    """Worker subprocesses (``python -m flask --app wsgi worker``) for one test."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, n: int = 1, **settings: str) -> list[subprocess.Popen]:
        env = {**os.environ, **WORKER_ENV, **settings, "DATABASE_URL": self.database_url}
        started = []
        for _ in range(n):
            index = len(self.procs)
            log = (self.log_dir / f"worker-{index}.log").open("w")
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--name", f"w{index}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.procs.append(proc)
            started.append(proc)
        return started

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(database_url, tmp_path) -> Iterator[Workers]:
    pool = Workers(database_url, tmp_path)
    yield pool
    pool.stop()


@pytest.fixture(scope="module")
def pages():
    with FixtureServer() as server:
        yield server


class _Probe(BaseHTTPRequestHandler):
    """``GET /slow/<ms>/<n>``: a small page after ``ms`` (start/end times recorded);
    ``GET /limited/<n>``: 429 with ``Retry-After: 1`` the first time, then the page;
    ``POST /hook/<mode>``: a webhook receiver (``flaky``: 500 first, then 200)."""

    server: ProbeServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        srv = self.server
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        now = time.monotonic()
        with srv.lock:
            srv.hits[self.path].append(now)
            srv.active += 1
            srv.max_active = max(srv.max_active, srv.active)
            first = len(srv.hits[self.path]) == 1
        try:
            if parts[0] == "slow":
                time.sleep(int(parts[1]) / 1000)
                self._reply(200, srv.page)
            elif parts[0] == "limited" and first:
                self._reply(429, b"<html>slow down</html>", {"Retry-After": "1"})
            else:
                self._reply(200, srv.page)
        finally:
            with srv.lock:
                srv.active -= 1

    def do_POST(self) -> None:
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with srv.lock:
            srv.posts.append((dict(self.headers), body))
            count = len(srv.posts)
        self._reply(500 if self.path.endswith("flaky") and count == 1 else 200)


class ProbeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Probe)
        self.lock = threading.Lock()
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.posts: list[tuple[dict, bytes]] = []
        self.active = 0
        self.max_active = 0
        self.page = (FIXTURES / "x" / "javilop-og-only.html").read_bytes()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def probe() -> Iterator[ProbeServer]:
    server = ProbeServer()
    yield server
    server.shutdown()
    server.server_close()


def _api(database_url: str, host_concurrency: int):
    with app_for_tests(
        database_url,
        FETCH_ALLOW_LOOPBACK=True,
        JOBS_MAX_URLS=500,
        JOBS_HOST_CONCURRENCY=host_concurrency,
    ) as flask_app:
        yield fresh_client(flask_app)


@pytest.fixture(scope="module")
def api(database_url):
    """The API with no per-host limit (every test URL is on 127.0.0.1)."""
    yield from _api(database_url, 0)


@pytest.fixture(scope="module")
def polite_api(database_url):
    """The API creating jobs with at most 2 fetches per host at once."""
    yield from _api(database_url, 2)


def create_job(api, key: str, urls: list[str], **extra) -> dict:
    response = api.post("/v1/jobs/create", json={"urls": urls, **extra}, headers={"x-api-key": key})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["data"]


def wait_for(predicate, timeout: float, what: str, workers: Workers | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    logs = workers.logs()[-3000:] if workers else ""
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def job_row(db, job_id: str) -> dict:
    return db.execute("select * from public.jobs where id = %s", (job_id,)).fetchone()


def finished(db, job_id: str):
    row = job_row(db, job_id)
    return row if row["finished_at"] is not None else None


def items(db, job_id: str) -> list[dict]:
    return db.execute(
        "select * from public.job_items where job_id = %s order by position", (job_id,)
    ).fetchall()


def assert_ledger_matches(db, user_id: str, job: dict, start_balance: int) -> None:
    """charged - refunded == succeeded items, one refund row per refunded item, balances agree."""
    rows = db.execute(
        "select reason, delta, ref from public.credit_ledger"
        " where user_id = %s and reason in ('usage', 'refund')",
        (user_id,),
    ).fetchall()
    usage = [r for r in rows if r["reason"] == "usage"]
    refunds = [r for r in rows if r["reason"] == "refund"]
    assert [r["delta"] for r in usage] == [-job["credits_charged"]]
    assert all(r["delta"] == 1 for r in refunds)
    assert len({r["ref"] for r in refunds}) == len(refunds) == job["credits_refunded"]
    refunded_items = {
        f"{job['id']}:{i['id']}" for i in items(db, str(job["id"])) if i["status"] != "succeeded"
    }
    assert {r["ref"] for r in refunds} == refunded_items
    assert job["credits_charged"] - job["credits_refunded"] == job["items_succeeded"]
    assert balance_of(db, user_id) == start_balance - job["items_succeeded"]
    assert ledger_sum(db, user_id) == balance_of(db, user_id)


def test_200_url_job_on_two_workers_with_404s_500s_and_timeouts(api, db, workers, pages, probe):
    user_id = make_user(db, credits=300)
    key = make_key(db, user_id)
    expected: dict[str, tuple[str, str | None]] = {}
    urls = []
    for i in range(200):
        if i % 10 == 3:
            path, outcome = f"/status/404?n={i}", ("failed", "creator_not_found")
        elif i % 10 == 6:
            path, outcome = f"/status/500?n={i}", ("failed", "upstream_error")
        elif i % 20 == 9:
            path, outcome = f"/sleep/2?n={i}", ("failed", "upstream_timeout")
        else:
            path, outcome = f"/{SMALL_PAGES[i % 3]}?n={i}", ("succeeded", None)
        urls.append(pages.url(path))
        expected[pages.url(path)] = outcome
    job = create_job(api, key, urls, webhook_url=probe.url("/hook/flaky"))
    secret = job["webhook_secret"]
    workers.start(2)
    wait_for(
        lambda: (
            db.execute("select count(*) as n from procrastinate.procrastinate_workers").fetchone()[
                "n"
            ]
            == 2
        ),
        20,
        "two registered workers",
        workers,
    )
    row = wait_for(lambda: finished(db, job["id"]), 90, "the job to finish", workers)

    assert row["status"] == "completed"
    failed = sum(1 for o in expected.values() if o[0] == "failed")
    assert (row["items_succeeded"], row["items_failed"], row["items_cancelled"]) == (
        200 - failed,
        failed,
        0,
    )
    results = []
    cursor = None
    while True:
        q = f"/v1/jobs/results?id={job['id']}&limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(q, headers={"x-api-key": key}).get_json()
        results += page["data"]
        if not (cursor := page["meta"]["next_cursor"]):
            break
    assert len(results) == 200
    for result in results:
        status, code = expected[result["url"]]
        assert result["status"] == status, result
        assert (result["error"] or {}).get("code") == code
        assert (result["profile"] is not None) == (status == "succeeded")
    # every item ran exactly once: one attempt each, one request per page (500s: fetch retry)
    assert {i["attempts"] for i in items(db, job["id"])} == {1}
    for url, (_, code) in expected.items():
        path = url.split(str(pages.server_address[1]), 1)[1]
        assert pages.hits[path] == (2 if code == "upstream_error" else 1), path
    assert_ledger_matches(db, user_id, row, 300)

    summary = api.get(f"/v1/jobs/get?id={job['id']}", headers={"x-api-key": key}).get_json()
    assert summary["data"]["progress"] == 100.0
    # webhook: first delivery answered 500, the retry 200; both recorded and signed
    wait_for(lambda: len(probe.posts) >= 2, 20, "the webhook retry", workers)
    deliveries = wait_for(
        lambda: api.get(f"/v1/jobs/get?id={job['id']}", headers={"x-api-key": key}).get_json()[
            "data"
        ]["webhook"]["deliveries"][1:],
        10,
        "the second delivery record",
    )
    assert deliveries[0]["succeeded"] and deliveries[0]["status_code"] == 200
    headers, body = probe.posts[-1]
    assert signing.verify(secret, body, headers[signing.SIGNATURE_HEADER])
    assert not signing.verify("whsec_wrong", body, headers[signing.SIGNATURE_HEADER])
    event = json.loads(body)
    assert event["type"] == "job.completed" and event["data"]["id"] == job["id"]
    assert event["data"]["counts"]["failed"] == failed
    assert probe.posts[0][1] == body or json.loads(probe.posts[0][1])["id"] == event["id"]


def test_killed_worker_items_are_recovered_without_double_charge_or_refund(api, db, workers, pages):
    user_id = make_user(db, credits=50)
    key = make_key(db, user_id)
    urls = [
        pages.url(f"/latency/800/{'x/javilop-og-only' if i % 2 else 'none/missing'}?n={i}")
        for i in range(12)
    ]
    job = create_job(api, key, urls)
    (victim,) = workers.start(1, JOBS_WORKER_CONCURRENCY="4")
    wait_for(
        lambda: (
            db.execute(
                "select count(*) as n from public.job_items"
                " where job_id = %s and status = 'running'",
                (job["id"],),
            ).fetchone()["n"]
            >= 4
        ),
        20,
        "the first worker to start 4 items",
        workers,
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    orphaned = {
        i["id"] for i in items(db, job["id"]) if i["status"] == "running" and i["attempts"] == 1
    }
    assert len(orphaned) == 4
    workers.start(1, JOBS_WORKER_CONCURRENCY="4")
    row = wait_for(lambda: finished(db, job["id"]), 60, "the job to finish", workers)

    final = items(db, job["id"])
    assert {i["status"] for i in final} == {"succeeded", "failed"}
    assert {i["id"] for i in final if i["attempts"] == 2} == orphaned
    assert {i["attempts"] for i in final if i["id"] not in orphaned} == {1}
    assert (row["items_succeeded"], row["items_failed"]) == (6, 6)
    assert_ledger_matches(db, user_id, row, 50)
    assert "requeued stalled task" in workers.logs()


def test_cancel_mid_job_stops_queued_items_and_refunds_them(api, db, workers, pages):
    user_id = make_user(db, credits=50)
    key = make_key(db, user_id)
    urls = [pages.url(f"/latency/400/x/javilop-og-only?n={i}") for i in range(30)]
    job = create_job(api, key, urls)
    workers.start(1, JOBS_WORKER_CONCURRENCY="2")
    wait_for(
        lambda: job_row(db, job["id"])["items_succeeded"] >= 4, 30, "4 finished items", workers
    )
    response = api.post("/v1/jobs/cancel", json={"id": job["id"]}, headers={"x-api-key": key})
    assert response.status_code == 200
    cancelled = response.get_json()["data"]
    assert cancelled["status"] == "cancelled"
    row = wait_for(lambda: finished(db, job["id"]), 20, "running items to finish", workers)
    assert row["status"] == "cancelled"
    assert row["items_cancelled"] == cancelled["counts"]["cancelled"] >= 20
    assert row["items_succeeded"] + row["items_cancelled"] == 30
    assert row["credits_refunded"] == row["items_cancelled"]
    assert_ledger_matches(db, user_id, row, 50)
    time.sleep(1.0)  # nothing else runs after the cancel
    assert job_row(db, job["id"])["items_succeeded"] == row["items_succeeded"]
    hits = sum(1 for path in pages.hits if path.startswith("/latency/400/"))
    assert hits == row["items_succeeded"]


def test_per_host_limit_and_spacing_hold_across_workers(polite_api, db, workers, probe):
    user_id = make_user(db, credits=50)
    key = make_key(db, user_id)
    job = create_job(polite_api, key, [probe.url(f"/slow/400/{i}") for i in range(10)])
    workers.start(2, JOBS_WORKER_CONCURRENCY="4", JOBS_HOST_SPACING_MS="250")
    row = wait_for(lambda: finished(db, job["id"]), 40, "the job to finish", workers)
    assert row["items_succeeded"] == 10
    assert probe.max_active == 2
    starts = sorted(t for times in probe.hits.values() for t in times)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.2, gaps  # 250 ms spacing, minus scheduling jitter


def test_429_backs_the_host_off_and_reschedules_the_item(api, db, workers, probe):
    user_id = make_user(db, credits=10)
    key = make_key(db, user_id)
    job = create_job(api, key, [probe.url("/limited/1")])
    workers.start(1)
    row = wait_for(lambda: finished(db, job["id"]), 30, "the job to finish", workers)
    assert row["items_succeeded"] == 1 and row["credits_refunded"] == 0
    (item,) = items(db, job["id"])
    assert item["attempts"] == 2
    first, second = probe.hits["/limited/1"]
    assert second - first >= 0.95  # Retry-After: 1 honoured, not retried at once
    backoff = db.execute(
        "select blocked_until from private.host_politeness where host = '127.0.0.1'"
    ).fetchone()
    assert backoff["blocked_until"] is not None
