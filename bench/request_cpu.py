"""CPU time per request of the API itself: the WSGI app called in this process, no gunicorn, no
sockets, no client threads, so the number does not move with the load generator.

    .venv/bin/python -m bench.request_cpu [--requests 1000] [--rounds 5] [--profile balance]

For ``GET /v1/credits/balance`` and a cache hit of ``GET /v1/creators/profile`` (the two routes
of ``bench.api``): the median over ``--rounds`` of process CPU microseconds per request (and wall
microseconds, which include waiting for Postgres). ``--profile ROUTE`` also prints cProfile's
top functions for that route (cProfile roughly doubles the time of call-heavy Python code, so
read its shares, not its absolute times). Logging runs at INFO with the JSON access line
written to /dev/null, as in production minus the terminal.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import statistics
import time

import psycopg
from werkzeug.test import EnvironBuilder

from app import create_app
from app.queries import keys as key_queries
from app.security import generate_api_key
from bench import _pg
from bench.api import CACHED_PROFILE_PATH, seed_cached_profile

ROUTES = {"balance": "/v1/credits/balance", "profile": CACHED_PROFILE_PATH}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=sorted(ROUTES))
    args = parser.parse_args()

    server, url = _pg.start()
    new_key = generate_api_key()
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = conn.execute(
            "insert into auth.users (email) values ('bench@example.com') returning id"
        ).fetchone()[0]
        key_queries.insert(conn, user_id, "bench", new_key.key_hash, new_key.prefix)
        seed_cached_profile(conn, user_id)
    app = create_app(
        {
            "DATABASE_URL": url,
            "LOG_LEVEL": "INFO",
            "RATELIMIT_PLAN_LIMITS": {"free": "100000000 per minute"},
        }
    )
    with open(os.devnull, "w") as sink:
        for handler in logging.getLogger().handlers:
            handler.setStream(sink)
        try:
            run(app, new_key.plaintext, args)
        finally:
            app.extensions["db_pool"].close()
            server.cleanup()


def run(app, api_key: str, args: argparse.Namespace) -> None:
    def call(path: str) -> None:
        environ = EnvironBuilder(
            path=path.partition("?")[0],
            query_string=path.partition("?")[2],
            headers={"x-api-key": api_key},
            environ_base={"REMOTE_ADDR": "127.0.0.1", "RAW_URI": path},
        ).get_environ()
        statuses: list[str] = []
        body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(body)
        body.close()
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"{path}: {statuses[0]}")

    print(
        f"{'route':<10} {'cpu us/req':>11} {'wall us/req':>12}",
        f"({args.rounds} x {args.requests})",
    )
    for name, path in ROUTES.items():
        for _ in range(200):  # warm-up: pool, caches, plan cache
            call(path)
        cpu, wall = [], []
        for _ in range(args.rounds):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                call(path)
            cpu.append((time.process_time() - cpu_start) / args.requests * 1e6)
            wall.append((time.perf_counter() - wall_start) / args.requests * 1e6)
        print(f"{name:<10} {statistics.median(cpu):>11.0f} {statistics.median(wall):>12.0f}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            call(ROUTES[args.profile])
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())


if __name__ == "__main__":
    main()
