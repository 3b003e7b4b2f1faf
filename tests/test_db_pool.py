"""The pools' health check (``app.db.IdleCheck``): a connection handed out a moment ago is
handed out again without the empty-query round trip; one unused for too long, or never used,
is pinged, and a dead one is replaced before any caller sees it."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app import db
from app.config import ConfigError, load_config


class CountingPing:
    """Wraps psycopg_pool's real ``check_connection`` (one round trip to the real server) and
    counts how often the pool used it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, conn: psycopg.Connection) -> None:
        self.calls += 1
        db.ConnectionPool.check_connection(conn)


def _pool(database_url: str, idle_check: db.IdleCheck) -> db.ConnectionPool:
    pool = db.ConnectionPool(
        database_url,
        kwargs=db.connection_kwargs(database_url),
        min_size=1,
        max_size=1,
        check=idle_check.check,
        open=False,
    )
    pool.open(wait=True)
    return pool


def test_a_connection_just_returned_is_not_pinged(database_url):
    ping = CountingPing()
    pool = _pool(database_url, db.IdleCheck(60, ping))
    try:
        for _ in range(5):
            with pool.connection() as conn:
                assert conn.execute("select 1 as one").fetchone() == {"one": 1}
        assert ping.calls == 1  # only the first checkout of the new connection
    finally:
        pool.close()


def test_after_zero_pings_every_checkout(database_url):
    ping = CountingPing()
    pool = _pool(database_url, db.IdleCheck(0, ping))
    try:
        for _ in range(3):
            with pool.connection() as conn:
                conn.execute("select 1")
        assert ping.calls == 3
    finally:
        pool.close()


def test_an_idle_dead_connection_is_replaced_before_use(database_url):
    ping = CountingPing()
    pool = _pool(database_url, db.IdleCheck(0.2, ping))
    try:
        with pool.connection() as conn:
            dead_pid = conn.info.backend_pid
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (dead_pid,))
        time.sleep(0.3)
        with pool.connection() as conn:
            row = conn.execute("select pg_backend_pid() as pid").fetchone()
        assert row["pid"] != dead_pid
        assert ping.calls >= 2  # the idle connection was probed, found dead, and replaced
    finally:
        pool.close()


def _kill_after_use(pool: db.ConnectionPool, database_url: str) -> int:
    with pool.connection() as conn:
        pid = conn.info.backend_pid
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", (pid,))
    return pid


@pytest.mark.parametrize("check_idle", [0, 60])
def test_new_pool_honours_db_pool_check_idle(database_url, check_idle):
    """``DB_POOL_CHECK_IDLE`` reaches the pool: with 60 s, a connection that died right after use
    is handed out unpinged (its query fails and the pool discards it); with 0 it is pinged and
    replaced, and the caller never sees it."""
    config = {**load_config({}), "DB_POOL_CHECK_IDLE": check_idle}
    pool = db.new_pool(database_url, config, min_size=1, max_size=1, name="test")
    pool.open(wait=True)
    try:
        dead_pid = _kill_after_use(pool, database_url)
        if check_idle:
            with pytest.raises(psycopg.OperationalError), pool.connection() as conn:
                conn.execute("select 1")
        with pool.connection() as conn:
            assert conn.execute("select pg_backend_pid() as pid").fetchone()["pid"] != dead_pid
    finally:
        pool.close()


def test_db_pool_check_idle_is_validated():
    assert load_config({"DB_POOL_CHECK_IDLE": "0"})["DB_POOL_CHECK_IDLE"] == 0
    assert load_config({})["DB_POOL_CHECK_IDLE"] == 10
    with pytest.raises(ConfigError):
        load_config({"DB_POOL_CHECK_IDLE": "-1"})


@pytest.mark.parametrize("check_idle", [0, 60])
def test_check_async_honours_the_window_on_an_async_pool(database_url, check_idle):
    """procrastinate's pool in the workers: same rule as the sync pools."""

    async def scenario() -> None:
        idle_check = db.IdleCheck(check_idle)
        pool = AsyncConnectionPool(
            database_url, min_size=1, max_size=1, check=idle_check.check_async, open=False
        )
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                dead_pid = conn.info.backend_pid
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute("select pg_terminate_backend(%s)", (dead_pid,))
            if check_idle:
                with pytest.raises(psycopg.OperationalError):
                    async with pool.connection() as conn:
                        await conn.execute("select 1")
            async with pool.connection() as conn:
                cursor = await conn.execute("select pg_backend_pid()")
                assert (await cursor.fetchone())[0] != dead_pid
        finally:
            await pool.close()

    asyncio.run(scenario())
