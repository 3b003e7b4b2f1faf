"""Throughput of public.spend_credits next to a bare guarded UPDATE, on one hot key and on
1,000 keys, at 1, 8 and 32 clients (threads, one connection each).

    .venv/bin/python -m bench.credits [--seconds 3]

Prints calls/s for both and the ratio spend_credits / bare update. The bare update is the
floor of any correct implementation: it is the guarded decrement alone, with no key lookup,
ledger row or last_used_at.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
import uuid

import psycopg

from app.queries import keys as key_queries
from app.security import generate_api_key
from bench import _pg

N_KEYS = 1000


def setup(url: str) -> tuple[list[str], list[str]]:
    """1,000 users with one key each and a balance large enough for the whole run."""
    key_hashes, user_ids = [], []
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for i in range(N_KEYS):
            user_id = conn.execute(
                "insert into auth.users (email) values (%s) returning id", (f"b{i}@example.com",)
            ).fetchone()[0]
            conn.execute(
                "select public.grant_credits(%s, 100000000, 'admin_grant', %s)",
                (user_id, f"bench-{i}"),
            )
            new_key = generate_api_key()
            key_queries.insert(conn, user_id, "bench", new_key.key_hash, new_key.prefix)
            key_hashes.append(new_key.key_hash)
            user_ids.append(str(user_id))
    return key_hashes, user_ids


def run(url: str, clients: int, seconds: float, call) -> float:
    """Calls per second of ``call(conn, i)`` from ``clients`` threads for ``seconds``."""
    counts = [0] * clients
    stop = threading.Event()
    barrier = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait()
            for n in itertools.count():
                if stop.is_set():
                    break
                call(conn, index * 1_000_003 + n)
                counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = parser.parse_args()
    server, url = _pg.start()
    try:
        key_hashes, user_ids = setup(url)
        run_id = uuid.uuid4().hex[:8]

        def spend(pick):
            def call(conn, n):
                conn.execute(
                    "select public.spend_credits(%s, 1, %s)", (pick(key_hashes, n), f"{run_id}-{n}")
                )

            return call

        def bare(pick):
            def call(conn, n):
                conn.execute(
                    "update public.credit_balances set balance = balance - 1"
                    " where user_id = %s and balance >= 1",
                    (pick(user_ids, n),),
                )

            return call

        hot = lambda items, n: items[0]  # noqa: E731
        spread = lambda items, n: items[n % N_KEYS]  # noqa: E731
        print(
            f"{'keys':>6} {'clients':>7} {'spend_credits/s':>16} {'bare update/s':>14} {'ratio':>6}"
        )
        for label, pick in (("1", hot), ("1000", spread)):
            for clients in (1, 8, 32):
                run_id = uuid.uuid4().hex[:8]
                spend_rate = run(url, clients, args.seconds, spend(pick))
                bare_rate = run(url, clients, args.seconds, bare(pick))
                print(
                    f"{label:>6} {clients:>7} {spend_rate:>16.0f} {bare_rate:>14.0f}"
                    f" {spend_rate / bare_rate:>6.2f}"
                )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
