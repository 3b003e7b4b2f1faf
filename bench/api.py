"""Requests/s and p50/p99 latency of ``GET /v1/credits/balance`` under gunicorn, next to a
no-op Flask route under the same gunicorn settings, in the same run.

    .venv/bin/python -m bench.api [--seconds 5] [--clients 8] [--workers 1] [--rounds 5]
                                  [--worker-class gthread|sync] [--threads 8]

Both servers run on 127.0.0.1 under the same gunicorn settings (by default the way
``./scripts/serve`` runs the API: one process, gthread, 8 threads; ``gunicorn.conf.py`` refuses
several processes with ``memory://`` limiter storage); the load comes from client threads in this
process (on a 2-core machine they share the CPU with the server, which caps both numbers alike),
one new connection per request, each route in ``--rounds`` alternating slices so that other load
on the machine falls on both alike. The balance call authenticates the key (format, rate limit,
one spend_credits round trip). The cache-hit case is ``GET /v1/creators/profile`` for a creator
already cached: the cache read, the charge (1 credit) and the lookup-history row in one SQL call
(``begin_profile_lookup``). Logs at WARNING (no access line).

Besides req/s and latency, each route's CPU microseconds per request: ``server`` is the gunicorn
process tree serving it (arbiter and worker; user + system time, psutil), ``pg`` every process
of the Postgres server (postmaster and backends), both over that route's slices divided by its
requests. Also printed: the ratios to the no-op route of req/s and of p99 latency.
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
from collections.abc import Sequence
from pathlib import Path

import psutil
import psycopg
from psycopg.types.json import Jsonb

from app.queries import keys as key_queries
from app.scraping.models import CreatorProfile
from app.security import generate_api_key
from bench import _pg
from bench.jobs import cpu_seconds, postgres_processes

CACHED_PROFILE_PATH = "/v1/creators/profile?platform=youtube&handle=mkbhd"

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(
    target: str, port: int, workers: int, env: dict[str, str], flags: Sequence[str] = ()
) -> subprocess.Popen:
    """Start ``gunicorn target`` with ``workers`` processes (and extra ``flags``, e.g. the worker
    class) on 127.0.0.1:``port``; return once it accepts connections."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
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


def load_raw(
    port: int, path: str, headers: dict[str, str], clients: int, seconds: float
) -> tuple[list[float], float, int]:
    """``clients`` threads sending GET ``path`` (a new connection each) for ``seconds``.
    Returns (latencies in s, elapsed s, non-200 count)."""
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
    return latencies, time.perf_counter() - began, errors[0]


def summary(latencies: list[float], elapsed: float, errors: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-200 count)."""
    quantiles = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors


def load(port: int, path: str, headers: dict[str, str], clients: int, seconds: float):
    """Return (requests/s, p50 ms, p99 ms, non-200 count)."""
    return summary(*load_raw(port, path, headers, clients, seconds))


def tree(process: psutil.Process) -> list[psutil.Process]:
    """``process`` and its children (a gunicorn arbiter and its worker)."""
    return [process, *process.children(recursive=True)]


def interleaved(
    targets, clients: int, seconds: float, rounds: int, postgres
) -> list[tuple[str, tuple]]:
    """Load each ``(name, port, path, headers, gunicorn)`` of ``targets`` for ``seconds`` in
    total, in ``rounds`` alternating slices, so that a change in the machine's load (it is
    shared) hits every route alike. The CPU time of the target's ``gunicorn`` process tree and
    of the ``postgres`` server (a pgserver) is counted per route. Returns ``(name, load summary
    + (server CPU us per request, Postgres CPU us per request))`` per target."""
    collected = {name: ([], 0.0, 0, 0.0, 0.0) for name, *_ in targets}
    for _ in range(rounds):
        for name, port, path, headers, gunicorn in targets:
            cpu_before = cpu_seconds(tree(gunicorn)), cpu_seconds(postgres_processes(postgres))
            latencies, elapsed, errors = load_raw(port, path, headers, clients, seconds / rounds)
            server_cpu = cpu_seconds(tree(gunicorn)) - cpu_before[0]
            postgres_cpu = cpu_seconds(postgres_processes(postgres)) - cpu_before[1]
            total = collected[name]
            collected[name] = (
                total[0] + latencies,
                total[1] + elapsed,
                total[2] + errors,
                total[3] + server_cpu,
                total[4] + postgres_cpu,
            )
    rows = []
    for name, *_ in targets:
        latencies, elapsed, errors, server_cpu, postgres_cpu = collected[name]
        per_request = 1e6 / max(1, len(latencies))
        cpu = (server_cpu * per_request, postgres_cpu * per_request)
        rows.append((name, (*summary(latencies, elapsed, errors), *cpu)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--threads", type=int, default=8, help="threads per gthread worker")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per route")
    args = parser.parse_args()
    flags = ["--worker-class", args.worker_class]
    if args.worker_class == "gthread":  # a sync worker given threads > 1 becomes gthread
        flags += ["--threads", str(args.threads)]

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
    api = serve("wsgi:app", api_port, args.workers, env, flags)
    noop = serve("bench.noop_app:app", noop_port, args.workers, env, flags)
    try:
        balance_headers = {"x-api-key": new_key.plaintext}
        load(api_port, "/v1/credits/balance", balance_headers, 2, 1)  # warm-up
        load(noop_port, "/noop", {}, 2, 1)
        api_process, noop_process = psutil.Process(api.pid), psutil.Process(noop.pid)
        targets = [
            (
                "GET /v1/credits/balance",
                api_port,
                "/v1/credits/balance",
                balance_headers,
                api_process,
            ),
            ("GET /noop (bare Flask)", noop_port, "/noop", {}, noop_process),
            (
                "GET /v1/creators/profile hit",
                api_port,
                CACHED_PROFILE_PATH,
                balance_headers,
                api_process,
            ),
        ]
        rows = interleaved(targets, args.clients, args.seconds, args.rounds, server)
    finally:
        api.terminate()
        noop.terminate()
        api.wait()
        noop.wait()
        server.cleanup()
    print(
        f"gunicorn {' '.join(flags)} --workers {args.workers},"
        f" clients={args.clients}, {args.seconds:.0f} s each in {args.rounds} alternating slices"
    )
    print(
        f"{'route':<28} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-200':>7}"
        f" {'server us/req':>13} {'pg us/req':>9}"
    )
    for name, (rate, p50, p99, errors, server_us, postgres_us) in rows:
        print(
            f"{name:<28} {rate:>7.0f} {p50:>7.2f} {p99:>7.2f} {errors:>7}"
            f" {server_us:>13.0f} {postgres_us:>9.0f}"
        )
    (api_rate, _, api_p99, *_), (noop_rate, _, noop_p99, *_) = rows[0][1], rows[1][1]
    hit_rate, _, hit_p99, *_ = rows[2][1]
    print(f"ratio balance/noop: {api_rate / noop_rate:.2f} req/s, {api_p99 / noop_p99:.2f}x p99")
    print(
        f"ratio profile cache hit/noop: {hit_rate / noop_rate:.2f} req/s,"
        f" {hit_p99 / noop_p99:.2f}x p99"
    )


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
