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
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from app import create_app
from app.queries import keys as key_queries
from app.security import generate_api_key
from bench import _pg
from tests.fixture_server import FixtureServer

ROOT = Path(__file__).resolve().parent.parent
PAGE = "x/javilop-og-only"


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
        "DATABASE_URL": url,
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


def run_once(url, client, key, server, workers, concurrency, n_urls, latency_ms, tag) -> float:
    """Items/s of one job of ``n_urls`` URLs with ``workers`` worker processes."""
    procs = start_workers(url, workers, concurrency)
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
        assert row["items_succeeded"] == n_urls, row
        return n_urls / float(row["seconds"])
    finally:
        stop_workers(procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="per worker process")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated process counts")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]

    server, url = _pg.start()
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
            print(f"{'workers':>7}  {'items/s':>8}  {'ideal':>8}  {'ratio':>6}")
            for workers in counts:
                rate = run_once(
                    url,
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
                print(f"{workers:>7}  {rate:>8.1f}  {ideal:>8.1f}  {rate / ideal:>6.2f}")
        app.extensions["db_pool"].close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
