"""Requests/s and p50/p99 latency of ``GET /v1/credits/balance`` under gunicorn, next to a
no-op Flask route under the same gunicorn settings, in the same run.

    .venv/bin/python -m bench.api [--seconds 5] [--clients 8] [--workers 1]
        [--worker-class gthread] [--threads 8]

Both servers run on 127.0.0.1 under the same gunicorn settings (by default the way
``./scripts/serve`` runs the API: one process, gthread, 8 threads; ``gunicorn.conf.py`` refuses
several processes with ``memory://`` limiter storage); the load comes from client threads in this
process (on a 2-core machine they share the CPU with the server, which caps both numbers alike).
The balance call authenticates the key (format, rate limit, one spend_credits round trip).
The cache-hit case is ``GET /v1/creators/profile`` for a creator already cached: the cache read,
the charge (1 credit) and the lookup-history row in one SQL call (``begin_profile_lookup``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from app.queries import keys as key_queries
from app.scraping.models import CreatorProfile
from app.security import generate_api_key
from bench import _pg

CACHED_PROFILE_PATH = "/v1/creators/profile?platform=youtube&handle=mkbhd"

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(target: str, port: int, flags: list[str], env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            *flags,
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            target,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def load(port: int, path: str, headers: dict[str, str], clients: int, seconds: float):
    """Return (requests/s, p50 ms, p99 ms, non-200 count)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    errors[0] += 1
            conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    server, url = _pg.start()
    new_key = generate_api_key()
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = conn.execute(
            "insert into auth.users (email) values ('bench@example.com') returning id"
        ).fetchone()[0]
        key_queries.insert(conn, user_id, "bench", new_key.key_hash, new_key.prefix)
        seed_cached_profile(conn, user_id)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "RATELIMIT_PLAN_LIMITS": json.dumps({"free": "100000000 per minute"}),
    }
    api_port, noop_port = free_port(), free_port()
    flags = ["--workers", str(args.workers), "--worker-class", args.worker_class]
    if args.worker_class == "gthread":
        flags += ["--threads", str(args.threads)]
    api = serve("wsgi:app", api_port, flags, env)
    noop = serve("bench.noop_app:app", noop_port, flags, env)
    try:
        load(api_port, "/v1/credits/balance", {"x-api-key": new_key.plaintext}, 2, 1)  # warm-up
        load(noop_port, "/noop", {}, 2, 1)
        rows = [
            (
                "GET /v1/credits/balance",
                load(
                    api_port,
                    "/v1/credits/balance",
                    {"x-api-key": new_key.plaintext},
                    args.clients,
                    args.seconds,
                ),
            ),
            ("GET /noop (bare Flask)", load(noop_port, "/noop", {}, args.clients, args.seconds)),
            (
                "GET /v1/creators/profile hit",
                load(
                    api_port,
                    CACHED_PROFILE_PATH,
                    {"x-api-key": new_key.plaintext},
                    args.clients,
                    args.seconds,
                ),
            ),
        ]
    finally:
        api.terminate()
        noop.terminate()
        api.wait()
        noop.wait()
        server.cleanup()
    print(f"gunicorn {' '.join(flags)}, clients={args.clients}, {args.seconds:.0f} s each")
    print(f"{'route':<26} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8}")
    for name, (rate, p50, p99, errors) in rows:
        print(f"{name:<26} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {errors:>8}")
    api_rate, noop_rate = rows[0][1][0], rows[1][1][0]
    print(f"ratio balance/noop: {api_rate / noop_rate:.2f}")
    print(f"ratio profile cache hit/noop: {rows[2][1][0] / noop_rate:.2f}")


def seed_cached_profile(conn: psycopg.Connection, user_id: object) -> None:
    """Credits for every hit, and a cached profile for ``CACHED_PROFILE_PATH``."""
    conn.execute(
        "select public.grant_credits(%s, 100000000, 'admin_grant', %s)",
        (user_id, f"bench-{user_id}"),
    )
    profile = CreatorProfile(
        platform="youtube",
        handle="mkbhd",
        display_name="Marques Brownlee",
        profile_url="https://www.youtube.com/@mkbhd",
        followers=19_600_000,
    ).to_dict()
    conn.execute(
        "select public.store_creator_profile('youtube', 'mkbhd', %s, %s, now())",
        (profile["profile_url"], Jsonb(profile)),
    )


if __name__ == "__main__":
    main()
