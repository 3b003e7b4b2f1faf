"""Batch-job throughput: items/s of a 1,000-URL job with 1, 2 and 4 worker processes, next to
the ideal ``workers x concurrency / latency`` measured in the same run.

    .venv/bin/python -m bench.jobs [--urls 1000] [--concurrency 8] [--latency-ms 100]
                                   [--workers 1,2,4]

Everything is local: a throwaway embedded Postgres, tests/fixture_server.py serving a small
saved page (4 KB, x/javilop-og-only: extraction takes ~1 ms, so parsing does not dominate)
after ``--latency-ms`` of injected latency, the real API to create the job and real
``flask --app wsgi worker`` subprocesses. The clock runs from the job's ``created_at`` to its
``finished_at`` (both set by Postgres); workers are started and registered before the job is
created. No per-host limit or spacing (every URL is on 127.0.0.1). With more worker threads
than CPU cores, the ratio shows where this machine, not the queue, becomes the limit.

CPU per item, over the same clock: ``worker ms`` is the user+system CPU time of the worker
processes, ``pg ms`` that of every Postgres server process (the postmaster and its backends:
the workers' queries, the API's job creation, this script's polling once per 50 ms), both
divided by the URLs (psutil). ``--statements`` also logs every statement the workers send
(``log_statement = all``, ``application_name = bench-worker``) and prints statements per item,
procrastinate's own included; the logging costs Postgres CPU, so take the CPU figures from a
run without it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
from psycopg.rows import dict_row

from app import create_app
from app.queries import keys as key_queries
from app.security import generate_api_key
from bench import _pg
from tests.fixture_server import FixtureServer

ROOT = Path(__file__).resolve().parent.parent
PAGE = "x/javilop-og-only"
WORKER_APP_NAME = "bench-worker"


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of ``procs`` (those that have exited count 0)."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_processes(server) -> list[psutil.Process]:
    """The postmaster of the embedded server and all its children (backends, checkpointer...)."""
    postmaster = psutil.Process(server.get_pid())
    return [postmaster, *postmaster.children(recursive=True)]


class CpuClock:
    """CPU seconds used by the workers and by Postgres since ``start()``."""

    def __init__(self, server, workers: list[subprocess.Popen]) -> None:
        self.server = server
        self.workers = [psutil.Process(p.pid) for p in workers]
        self.pg_before: dict[int, float] = {}
        self.workers_before = 0.0

    def start(self) -> None:
        self.workers_before = cpu_seconds(self.workers)
        self.pg_before = {p.pid: cpu_seconds([p]) for p in postgres_processes(self.server)}

    def stop(self) -> tuple[float, float]:
        """(worker CPU s, Postgres CPU s) since ``start()``: backends started meanwhile count
        from zero, backends that ended meanwhile are lost (pools keep theirs open)."""
        workers = cpu_seconds(self.workers) - self.workers_before
        pg = sum(
            cpu_seconds([p]) - self.pg_before.get(p.pid, 0.0)
            for p in postgres_processes(self.server)
        )
        return workers, pg


def make_key(url: str, credits: int) -> str:
    """A user with ``credits`` and an API key; returns the key."""
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = conn.execute(
            "insert into auth.users (email) values ('bench@example.com') returning id"
        ).fetchone()[0]
        conn.execute(
            "select public.grant_credits(%s, %s, 'admin_grant', 'bench')", (user_id, credits)
        )
        new_key = generate_api_key()
        key_queries.insert(conn, user_id, "bench", new_key.key_hash, new_key.prefix)
    return new_key.plaintext


def start_workers(url: str, n: int, concurrency: int) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": f"{url}{'&' if '?' in url else '?'}application_name={WORKER_APP_NAME}",
        "FETCH_ALLOW_LOOPBACK": "true",
        "PROFILE_CACHE_TTL": "0",
        "JOBS_WORKER_CONCURRENCY": str(concurrency),
        "JOBS_HOST_CONCURRENCY": "0",
        "JOBS_HOST_SPACING_MS": "0",
        "JOBS_POLL_INTERVAL": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]
    return [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL) for _ in range(n)
    ]


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(conn: psycopg.Connection, query: str, params: tuple, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(query, params).fetchone()
        if row and all(v is not None and v is not False for v in row.values()):
            return row
        time.sleep(0.05)
    raise TimeoutError(query)


def run_once(
    url, pg, client, key, server, workers, concurrency, n_urls, latency_ms, tag
) -> tuple[float, float, float]:
    """(items/s, worker CPU ms per item, Postgres CPU ms per item) of one job of ``n_urls`` URLs
    with ``workers`` worker processes."""
    procs = start_workers(url, workers, concurrency)
    clock = CpuClock(pg, procs)
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            conn.execute("delete from procrastinate.procrastinate_workers")
            wait_until(
                conn,
                "select count(*) >= %s as ready from procrastinate.procrastinate_workers",
                (workers,),
                60,
            )
            urls = [server.url(f"/latency/{latency_ms}/{PAGE}?{tag}-{i}") for i in range(n_urls)]
            clock.start()
            response = client.post(
                "/v1/jobs/create", json={"urls": urls}, headers={"x-api-key": key}
            )
            assert response.status_code == 202, response.get_json()
            job_id = response.get_json()["data"]["id"]
            row = wait_until(
                conn,
                "select finished_at, extract(epoch from finished_at - created_at) as seconds,"
                "       items_succeeded from public.jobs where id = %s",
                (job_id,),
                600,
            )
            worker_cpu, pg_cpu = clock.stop()
        assert row["items_succeeded"] == n_urls, row
        return (
            n_urls / float(row["seconds"]),
            worker_cpu * 1000 / n_urls,
            pg_cpu * 1000 / n_urls,
        )
    finally:
        stop_workers(procs)


def log_statements(url: str, on: bool) -> None:
    """Make Postgres log every statement with its application name (``%a|`` prefix)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"alter system set log_statement = '{'all' if on else 'none'}'")
        conn.execute("alter system set log_line_prefix = '%a|'")
        conn.execute("select pg_reload_conf()")


def count_logged_statements(server) -> int:
    """Statements the workers sent so far, as logged by Postgres: one ``statement:`` line per
    simple query, one ``execute`` line per extended-protocol execution."""
    prefix = f"{WORKER_APP_NAME}|LOG:  "
    with open(server.log, errors="replace") as log:
        return sum(
            1
            for line in log
            if line.startswith(prefix) and line[len(prefix) :].startswith(("statement:", "execute"))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="per worker process")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated process counts")
    parser.add_argument(
        "--statements", action="store_true", help="log and count the workers' SQL statements"
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]

    server, url = _pg.start()
    if args.statements:
        log_statements(url, True)
    try:
        app = create_app(
            {
                "DATABASE_URL": url,
                "FETCH_ALLOW_LOOPBACK": True,
                "JOBS_MAX_URLS": args.urls,
                "JOBS_HOST_CONCURRENCY": 0,
                "RATELIMIT_PLAN_LIMITS": {"free": "10000 per minute"},
                "LOG_LEVEL": "WARNING",
            }
        )
        client = app.test_client()
        key = make_key(url, args.urls * len(counts))
        with FixtureServer() as pages:
            print(
                f"{args.urls} URLs, {args.latency_ms} ms latency, concurrency {args.concurrency}"
                f" per worker, {os.cpu_count()} CPUs"
            )
            print(
                f"{'workers':>7}  {'items/s':>8}  {'ideal':>8}  {'ratio':>6}"
                f"  {'worker ms/item':>14}  {'pg ms/item':>10}"
                + (f"  {'statements/item':>15}" if args.statements else "")
            )
            for workers in counts:
                logged = count_logged_statements(server) if args.statements else 0
                rate, worker_ms, pg_ms = run_once(
                    url,
                    server,
                    client,
                    key,
                    pages,
                    workers,
                    args.concurrency,
                    args.urls,
                    args.latency_ms,
                    f"w{workers}",
                )
                ideal = workers * args.concurrency / (args.latency_ms / 1000)
                line = (
                    f"{workers:>7}  {rate:>8.1f}  {ideal:>8.1f}  {rate / ideal:>6.2f}"
                    f"  {worker_ms:>14.2f}  {pg_ms:>10.2f}"
                )
                if args.statements:
                    per_item = (count_logged_statements(server) - logged) / args.urls
                    line += f"  {per_item:>15.1f}"
                print(line)
        app.extensions["db_pool"].close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
