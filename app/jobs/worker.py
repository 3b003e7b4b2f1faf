"""The worker process: ``flask --app wsgi worker [--concurrency N] [--name NAME]``.

One process runs procrastinate's worker on queue ``creatorscrape_jobs`` with
``JOBS_WORKER_CONCURRENCY`` tasks at once (threads; the tasks do blocking HTTP). Run as many
processes, on as many machines, as you like against the same database: procrastinate hands each
task to one worker (``FOR UPDATE SKIP LOCKED``) and wakes idle workers with LISTEN/NOTIFY.

Heartbeats and stalled-job recovery: every worker updates its heartbeat every
``JOBS_HEARTBEAT_INTERVAL`` seconds; every ``JOBS_STALLED_CHECK_INTERVAL`` seconds each worker
also looks for running tasks of workers silent for ``JOBS_STALLED_TIMEOUT`` seconds (killed,
crashed, partitioned) and puts them back in the queue (procrastinate's ``get_stalled_jobs`` +
``retry_job``). The item tasks are idempotent, so a re-run never charges or refunds twice.

SIGINT/SIGTERM stop fetching new tasks and wait up to ``FETCH_DEADLINE + 5`` seconds for the
running ones; anything cut short is retried by another worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click
import procrastinate
import psycopg
from flask import current_app
from flask.cli import with_appcontext
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from app import db
from app.jobs import sweep, tasks
from app.queries import jobs as queries

log = logging.getLogger(__name__)

SEARCH_PATH = "procrastinate, pg_catalog"


def queue_database_url(config: Mapping[str, Any]) -> str:
    """The URL workers use: ``JOBS_DATABASE_URL``, else ``DATABASE_URL``."""
    return config["JOBS_DATABASE_URL"] or config["DATABASE_URL"]


async def _configure_connection(conn: psycopg.AsyncConnection) -> None:
    """procrastinate's SQL uses unqualified names: point new connections at its schema. Then
    autocommit: every procrastinate query is one statement (a function call), and autocommit
    spares each a BEGIN and a COMMIT round trip."""
    await conn.execute(f"set search_path = {SEARCH_PATH}")
    if not conn.autocommit:
        await conn.commit()
        await conn.set_autocommit(True)


def queue_app(config: Mapping[str, Any], max_connections: int = 4) -> procrastinate.App:
    """``tasks.queue`` bound to a psycopg connector on the queue database (not opened)."""
    url = queue_database_url(config)
    kwargs: dict[str, Any] = {}
    if conninfo_to_dict(url).get("port") == db.TRANSACTION_POOLER_PORT:
        kwargs["prepare_threshold"] = None
    idle_check = db.IdleCheck(config["DB_POOL_CHECK_IDLE"])

    def pool_factory(**pool_args: Any) -> AsyncConnectionPool:
        # procrastinate's own pool pings every connection on checkout (two extra round trips
        # per item: fetch and finish); ping only idle ones, like the task pool.
        return AsyncConnectionPool(**{**pool_args, "check": idle_check.check_async})

    connector = procrastinate.PsycopgConnector(
        conninfo=url,
        kwargs=kwargs,
        configure=_configure_connection,
        min_size=1,
        max_size=max_connections,
        pool_factory=pool_factory,
    )
    return tasks.queue.with_connector(connector)


def check_schema(url: str) -> None:
    """Fail fast (``click.ClickException``) when the queue tables are not installed."""
    with psycopg.connect(url, autocommit=True) as conn:
        installed = conn.execute(
            "select to_regclass('procrastinate.procrastinate_jobs') is not null"
        ).fetchone()[0]
    if not installed:
        raise click.ClickException(
            "the job queue schema is missing: run `flask --app wsgi db migrate` first"
        )


async def recover_stalled(
    app: procrastinate.App, timeout: float, interval: float, stop: asyncio.Event
) -> None:
    """Every ``interval`` seconds: forget workers silent for ``timeout`` seconds and requeue the
    tasks they were running. Safe to run in every worker (a task requeued by another worker is
    skipped)."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
        try:
            await app.job_manager.prune_stalled_workers(timeout)
            stalled = await app.job_manager.get_stalled_jobs(
                queue=queries.QUEUE, seconds_since_heartbeat=timeout
            )
        except Exception:
            log.exception("stalled-job check failed")
            continue
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
                log.warning("requeued stalled task %s (%s)", job.id, job.task_name)
            except Exception:  # another worker requeued it first
                log.info("stalled task %s already handled", job.id)


async def _run(config: Mapping[str, Any], concurrency: int, name: str) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency + 4, thread_name_prefix="job")
    )
    app = queue_app(config, max_connections=min(concurrency, 8) + 2)
    stop = asyncio.Event()
    # The periodic deferrer defers through the tasks' own app (tasks.queue): give it this
    # worker's connector too.
    with tasks.queue.replace_connector(app.connector):
        await _work(app, config, concurrency, name, stop)


async def _work(
    app: procrastinate.App,
    config: Mapping[str, Any],
    concurrency: int,
    name: str,
    stop: asyncio.Event,
) -> None:
    async with app.open_async():
        recovery = asyncio.create_task(
            recover_stalled(
                app, config["JOBS_STALLED_TIMEOUT"], config["JOBS_STALLED_CHECK_INTERVAL"], stop
            )
        )
        try:
            await app.run_worker_async(
                queues=[queries.QUEUE],
                name=name,
                concurrency=concurrency,
                fetch_job_polling_interval=config["JOBS_POLL_INTERVAL"],
                update_heartbeat_interval=config["JOBS_HEARTBEAT_INTERVAL"],
                stalled_worker_timeout=config["JOBS_STALLED_TIMEOUT"],
                shutdown_graceful_timeout=config["FETCH_DEADLINE"] + 5,
                delete_jobs="successful",
                install_signal_handlers=True,
            )
        finally:
            stop.set()
            await recovery


def run(config: Mapping[str, Any], concurrency: int | None = None, name: str | None = None) -> None:
    """Run a worker in this process until SIGINT/SIGTERM. Besides the queue's tasks it runs the
    periodic orphaned-charge sweep (``app.jobs.sweep``, every ``SWEEP_EVERY`` seconds)."""
    concurrency = concurrency or config["JOBS_WORKER_CONCURRENCY"]
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    url = queue_database_url(config)
    check_schema(url)
    pool = db.new_pool(url, config, min_size=1, max_size=concurrency + 2, name="jobs-worker")
    pool.open()
    try:
        tasks.configure(config, pool)
        log.info(
            "worker %s starting, concurrency %d, orphan sweep every %ds",
            name,
            concurrency,
            sweep.SWEEP_EVERY,
        )
        asyncio.run(_run(config, concurrency, name))
    finally:
        pool.close()


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Items fetched at once by this process (default JOBS_WORKER_CONCURRENCY).",
)
@click.option("--name", default=None, help="Worker name in logs (default host-pid).")
@with_appcontext
def worker_command(concurrency: int | None, name: str | None) -> None:
    """Run a batch-job worker (procrastinate) until SIGINT/SIGTERM. Start as many as you like,
    on any machine, against the same DATABASE_URL / JOBS_DATABASE_URL."""
    run(current_app.config, concurrency, name)
