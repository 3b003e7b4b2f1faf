"""Aggregates over 50 posts, and the growth-history query at scale, with its plan.

    .venv/bin/python -m bench.posts [--repeat 2000]

Prints the time of ``aggregate()`` over 50 posts (pure Python), then fills a throwaway Postgres
with 1,000,000 growth snapshots (100 creators x 10,000 hourly points, inserted directly: the
per-creator bound of ``record_creator_growth`` is bypassed on purpose, to measure the query far
beyond it) and times the two statements of ``GET /v1/creators/history``: the first page of 100
points, a page deep in the series (through the cursor), and the 30-day change. Prints the
EXPLAIN (ANALYZE) of each, which must be an index scan on creator_growth_snapshots_hour_key.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from app.queries import history
from app.scraping.posts.aggregates import aggregate
from app.scraping.posts.base import Post
from bench import _pg

CREATORS = 100
POINTS = 10_000


def sample_posts(n: int = 50) -> list[Post]:
    """``n`` posts with a realistic mix of known and missing metrics."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Post(
            id=str(i),
            type="video",
            published_at=start - timedelta(hours=13 * i),
            views=None if i % 7 == 0 else 1000 + 37 * i,
            likes=50 + i,
            comments=None if i % 5 == 0 else 3 + i % 4,
            shares=i % 3,
        )
        for i in range(n)
    ]


def bench_aggregates(repeat: int) -> None:
    posts = sample_posts()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        aggregate("instagram", posts, 120_000)
        times.append(time.perf_counter() - started)
    print(
        f"aggregate() over {len(posts)} posts: median {statistics.median(times) * 1e6:.1f} us, "
        f"p95 {sorted(times)[int(len(times) * 0.95)] * 1e6:.1f} us ({repeat} runs)"
    )


def fill(url: str) -> datetime:
    end = datetime(2026, 11, 29, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into public.creator_growth_snapshots"
            " (platform, handle, bucket, fetched_at, followers, following, posts, likes)"
            " select 'bluesky', 'creator' || c || '.test', b, b,"
            "        1000 + c * 10 + %s - n, 100, n, null"
            "   from generate_series(1, %s) c,"
            "        lateral generate_series(1, %s) n,"
            "        lateral (select %s::timestamptz - n * interval '1 hour' as b) t",
            (POINTS, CREATORS, POINTS, end),
        )
        conn.execute("vacuum analyze public.creator_growth_snapshots")
        total = conn.execute("select count(*) from public.creator_growth_snapshots").fetchone()[0]
    print(f"growth snapshots: {total:,} ({CREATORS} creators x {POINTS:,})")
    return end


def timed(label: str, func, repeat: int = 200) -> None:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    print(f"{label}: median {statistics.median(times) * 1e3:.2f} ms ({repeat} runs)")


def explain(conn: psycopg.Connection, statement: str, params: dict) -> None:
    rows = conn.execute("explain (analyze, costs off, timing off) " + statement, params)
    for (line,) in rows.fetchall():
        print("    " + line)


def bench_history(url: str) -> None:
    end = fill(url)
    handle = "creator50.test"
    deep = end - timedelta(hours=POINTS // 2)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:

        def first_page():
            history.series(conn, "bluesky", handle, since=None, until=None, after=None, limit=101)

        def deep_page():
            history.series(conn, "bluesky", handle, since=None, until=None, after=deep, limit=101)

        def change():
            history.followers_30d(conn, "bluesky", handle, None)

        timed("history first page (100 points)", first_page)
        timed("history page after 5,000 points (cursor)", deep_page)
        timed("followers_change_30d", change)
        print(f"    followers_30d -> {history.followers_30d(conn, 'bluesky', handle, None)}")
    with psycopg.connect(url, autocommit=True) as conn:
        print("plan, series page after the cursor:")
        explain(
            conn,
            "select bucket, fetched_at, followers, following, posts, likes, avg_views"
            "  from public.creator_growth_snapshots"
            " where platform = %(p)s and handle = %(h)s"
            "   and bucket >= coalesce(%(since)s::timestamptz, '-infinity')"
            "   and bucket < coalesce(%(until)s::timestamptz, 'infinity')"
            "   and bucket > coalesce(%(after)s::timestamptz, '-infinity')"
            " order by bucket limit 101",
            {"p": "bluesky", "h": handle, "since": None, "until": None, "after": deep},
        )
        print("plan, 30-day change:")
        explain(
            conn,
            "with latest as ("
            "  select followers, bucket from public.creator_growth_snapshots"
            "   where platform = %(p)s and handle = %(h)s and followers is not null"
            "     and bucket < coalesce(%(until)s::timestamptz, 'infinity')"
            "   order by bucket desc limit 1"
            ") select l.followers, b.followers from latest l left join lateral ("
            "  select followers, bucket from public.creator_growth_snapshots"
            "   where platform = %(p)s and handle = %(h)s and followers is not null"
            "     and bucket <= l.bucket - interval '30 days'"
            "   order by bucket desc limit 1) b on true",
            {"p": "bluesky", "h": handle, "until": None},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    bench_aggregates(args.repeat)
    server, url = _pg.start()
    try:
        bench_history(url)
    finally:
        del server


if __name__ == "__main__":
    main()
