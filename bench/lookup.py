"""SQL cost of a cached profile lookup: the old two round trips (cache read, then
``spend_credits``) next to the one ``begin_profile_lookup`` call, at 1 and 8 clients, on one
hot key and on one key per client.

    .venv/bin/python -m bench.lookup [--seconds 3]

Each client is a thread with its own autocommit connection, as a gunicorn worker's pooled
connection is. Prints calls/s, p50 latency and the ratio new/old. Both variants charge 1 credit
and write the ledger row (so both wait for one WAL flush); the new one also writes the lookup
history row.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import time

import psycopg

from app.queries import keys as key_queries
from app.security import generate_api_key
from bench import _pg
from bench.api import seed_cached_profile

OLD_READ = (
    "select data, fetched_at from public.creator_profiles where platform = 'youtube'"
    " and handle = 'mkbhd' and fetched_at > now() - make_interval(secs => 86400)"
)
OLD_CHARGE = "select * from public.spend_credits(%s, 1, %s)"
NEW = "select * from public.begin_profile_lookup(%s, %s, 'youtube', 'mkbhd', 86400, 1, 1)"


def run(url: str, key_hashes: list[str], variant: str, clients: int, seconds: float):
    """(calls/s, p50 ms) of ``variant`` (``old`` or ``new``) with ``clients`` threads; client
    ``i`` pays with ``key_hashes[i % len(key_hashes)]``."""
    refs = itertools.count()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(key_hash: str) -> None:
        mine = []
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < stop:
                ref = f"bench-{variant}-{next(refs)}-{time.time_ns()}"
                started = time.perf_counter()
                if variant == "old":
                    conn.execute(OLD_READ).fetchone()
                    conn.execute(OLD_CHARGE, (key_hash, ref)).fetchone()
                else:
                    conn.execute(NEW, (key_hash, ref)).fetchone()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [
        threading.Thread(target=client, args=(key_hashes[i % len(key_hashes)],))
        for i in range(clients)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    server, url = _pg.start()
    key_hashes = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for n in range(8):
                new_key = generate_api_key()
                user_id = conn.execute(
                    "insert into auth.users (email) values (%s) returning id",
                    (f"bench{n}@example.com",),
                ).fetchone()[0]
                key_queries.insert(conn, user_id, "bench", new_key.key_hash, new_key.prefix)
                seed_cached_profile(conn, user_id)
                key_hashes.append(new_key.key_hash)
        print(f"cached lookup, SQL only, {args.seconds:.0f} s per variant")
        print(
            f"{'clients':>7} {'keys':>5} {'old/s':>8} {'old p50':>8} {'new/s':>8} {'new p50':>8}"
            f" {'new/old':>8}"
        )
        for clients, keys in ((1, 1), (8, 1), (8, 8)):
            old_rate, old_p50 = run(url, key_hashes[:keys], "old", clients, args.seconds)
            new_rate, new_p50 = run(url, key_hashes[:keys], "new", clients, args.seconds)
            print(
                f"{clients:>7} {keys:>5} {old_rate:>8.0f} {old_p50:>8.2f} {new_rate:>8.0f}"
                f" {new_p50:>8.2f} {new_rate / old_rate:>8.2f}"
            )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
