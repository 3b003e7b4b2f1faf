"""Where the time of ``GET /v1/credits/balance`` goes, under gunicorn, sampled with py-spy.

    .venv/bin/python -m bench.profile_api [--seconds 10] [--clients 8] [--workers 2]
                                          [--rate 500] [--worker-class sync] [--threads 1]

Needs py-spy (in requirements-dev.txt). The same setup as ``bench.api`` (a throwaway embedded
Postgres, one key, the real app under gunicorn on 127.0.0.1 at LOG_LEVEL INFO, load from client
threads in this process). While the load runs, ``py-spy record --subprocesses --idle`` samples
every gunicorn worker (pausing it for each sample, so the run is slower than ``bench.api``);
each sample of a thread handling a request (``SyncWorker.handle``/``ThreadWorker.handle``) is
put in the first category of ``CATEGORIES`` whose pattern appears in its stack. Threads waiting
for a connection are left out; the rest, divided by the requests served, is wall time per
request in each category (the SQL call is wall time, most of it spent in Postgres; with
threads, time waiting for the GIL lands wherever the thread waits).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psycopg

from app.security import generate_api_key
from bench import _pg
from bench.api import free_port, load, serve

ROOT = Path(__file__).resolve().parent.parent

#: (category, substrings of a stack; the first category with any match wins). Order matters:
#: the SQL call runs inside the limiter's wrapper, the pool check inside the pool checkout.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("gunicorn: lingering close (client's FIN)", ("close_graceful",)),
    ("pool checkout (+ health check)", ("psycopg_pool/",)),
    ("SQL call (spend_credits)", ("psycopg/",)),
    ("logging (JSON access line)", ("logging/__init__", "app/logs.py")),
    ("rate limiter (app.limits on the limits library)", ("app/limits.py", "limits/")),
    ("JSON response", ("json/",)),
    ("key validation (format, hash)", ("security.py",)),
    ("request id, access-log fields", ("app/__init__.py",)),
    ("OpenAPI layer (flask-openapi3)", ("flask_openapi3/",)),
    ("Flask/Werkzeug (routing, request, response)", ("flask/", "werkzeug/")),
]


def classify(stack: str) -> str | None:
    """Category of one collapsed stack; None unless a worker thread is handling a request
    (``SyncWorker.handle``/``ThreadWorker.handle``): waiting for a connection, the arbiter
    and the pool's own threads are left out."""
    if "Worker.handle (" not in stack:
        return None
    for name, patterns in CATEGORIES:
        if any(pattern in stack for pattern in patterns):
            return name
    return "gunicorn: HTTP parsing, socket writes"


def sample(pid: int, seconds: float, rate: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--idle",
            "--rate",
            str(rate),
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples/s per thread")
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    server, url = _pg.start()
    new_key = generate_api_key()
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = conn.execute(
            "insert into auth.users (email) values ('bench@example.com') returning id"
        ).fetchone()[0]
        conn.execute(
            "insert into public.api_keys (user_id, key_hash, prefix) values (%s, %s, %s)",
            (user_id, new_key.key_hash, new_key.prefix),
        )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "INFO",  # the access line is part of every request, as in production
        "RATELIMIT_PLAN_LIMITS": json.dumps({"free": "100000000 per minute"}),
    }
    port = free_port()
    flags = ["--worker-class", args.worker_class, "--threads", str(args.threads)]
    api = serve("wsgi:app", port, args.workers, env, flags)
    headers = {"x-api-key": new_key.plaintext}
    out = Path(tempfile.mkdtemp(prefix="bench-spy-")) / "stacks.txt"
    try:
        load(port, "/v1/credits/balance", headers, 2, 1)  # warm-up
        spy = sample(api.pid, args.seconds, args.rate, out)
        result: dict[str, tuple] = {}
        runner = threading.Thread(
            target=lambda: result.update(
                r=load(port, "/v1/credits/balance", headers, args.clients, args.seconds)
            )
        )
        runner.start()
        runner.join()
        spy.wait(timeout=args.seconds + 30)
    finally:
        api.terminate()
        api.wait()
        server.cleanup()

    rate, p50, p99, errors = result["r"]
    requests = rate * args.seconds
    counts: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        category = classify(stack)
        if category is not None:
            counts[category] += int(n)
    busy = sum(counts.values())
    print(
        f"gunicorn {args.worker_class} workers={args.workers} threads={args.threads},"
        f" clients={args.clients}, {args.seconds:.0f} s, py-spy {args.rate} Hz"
    )
    print(f"{rate:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, non-200 {errors}")
    print(f"{'where a request spends its worker thread':<46} {'share':>6} {'ms/req':>7}")
    for name, n in counts.most_common():
        print(f"{name:<46} {n / busy:>6.1%} {n / args.rate / requests * 1000:>7.3f}")
    print(f"{'total':<46} {1:>6.0%} {busy / args.rate / requests * 1000:>7.3f}")


if __name__ == "__main__":
    main()
