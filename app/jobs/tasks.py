"""The queue tasks: ``jobs.scrape_item`` (one per URL) and ``jobs.deliver_webhook``.

Both are ordinary procrastinate tasks on ``queue`` (queue ``creatorscrape_jobs``). The API defers
them with SQL (``app/queries/jobs.py``); a worker (``app/jobs/worker.py``) runs them in threads.

Every task is safe to run twice (redelivery after a crash, a stalled-job retry): an item already
in a final state, or owned by another task, is left alone; a final transition and its refund
happen once in one transaction (``queries.finish_item``). A fetched item costs three round trips
of its own: ``get_item``, ``start_item`` (politeness and start in one SQL call) and the cache
store with ``finish_item`` (one round trip, ``app.jobs.parts.finish``), plus the cache lookup
when the cache is on. A posts part (``"include"``) adds its own cache read; the posts it
fetched are stored in that same finishing round trip.

Politeness, across all workers: at most ``JOBS_HOST_CONCURRENCY`` fetches per host at once (the
task's procrastinate ``lock``, fixed at job creation), starts spaced ``JOBS_HOST_SPACING_MS``
apart (``private.host_politeness.next_start_at``), and after an upstream 429 the host is backed
off for its ``Retry-After`` (or ``JOBS_RETRY_AFTER_DEFAULT``): the item is rescheduled through
procrastinate's retry, never slept on in a worker slot.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import procrastinate
import requests
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg_pool import ConnectionPool

from app import profiles
from app.errors import ApiError
from app.jobs import parts, signing
from app.jobs.politeness import PoliteHosts
from app.jobs.summary import job_summary
from app.queries import jobs as queries
from app.scraping import fetch
from app.scraping.fetch import FetchSettings, UpstreamBlocked
from app.scraping.urls import identify

log = logging.getLogger(__name__)

# Tasks register here at import; nothing connects until a worker opens it with its own pool.
queue = procrastinate.App(connector=procrastinate.PsycopgConnector())

MAX_TASK_RETRIES = 50  # safety net for errors outside an item's own attempt count
MAX_RETRY_DELAY = 300.0  # seconds


class Reschedule(Exception):
    """Raised by a task to run again in ``delay`` seconds (politeness, a 429)."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(f"rescheduled in {delay:.2f}s: {reason}")
        self.delay = delay
        self.reason = reason


class WebhookFailed(Exception):
    """A webhook attempt did not get a 2xx answer (``reason``: ``status_<n>``, ``timeout``...)."""


class ItemRetry(BaseRetryStrategy):
    """``Reschedule`` runs again after its delay; any other error after ``2**attempts`` seconds
    (at most ``MAX_RETRY_DELAY``). The item's own attempt limit (``JOBS_MAX_ATTEMPTS``) is
    enforced by the task, which fails the item on its last attempt instead of raising."""

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        if isinstance(exception, Reschedule):
            return RetryDecision(retry_in={"seconds": exception.delay})
        if job.attempts >= MAX_TASK_RETRIES:
            return None
        return RetryDecision(retry_in={"seconds": min(2.0**job.attempts, MAX_RETRY_DELAY)})


@dataclass
class WebhookRetry(BaseRetryStrategy):
    """``max_attempts`` deliveries, waiting ``backoff * 2**n`` seconds after the n-th failure."""

    max_attempts: int = 8
    backoff: float = 5.0

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        if job.attempts + 1 >= self.max_attempts:
            return None
        delay = min(self.backoff * 2**job.attempts, 6 * 3600)
        return RetryDecision(retry_in={"seconds": delay})


@dataclass(frozen=True)
class Runtime:
    """What tasks need in a worker process: settings, a sync pool for our tables, fetch bounds."""

    config: Mapping[str, Any]
    pool: ConnectionPool
    fetch_settings: FetchSettings


_runtime: Runtime | None = None


def configure(config: Mapping[str, Any], pool: ConnectionPool) -> Runtime:
    """Set up this process's task runtime (called once by the worker before it starts).

    Workers fetch with ``max_retry_after=0``: a 429 that asks to wait ends the fetch at once,
    and the item is rescheduled instead of sleeping in the worker slot. API hosts called by the
    sources get the same per-host politeness (``app.jobs.politeness``).
    """
    global _runtime
    settings = dataclasses.replace(
        profiles.fetch_settings(config), max_retry_after=0, host_gate=PoliteHosts(pool, config)
    )
    _runtime = Runtime(config=dict(config), pool=pool, fetch_settings=settings)
    deliver_webhook.retry_strategy = WebhookRetry(
        max_attempts=config["JOBS_WEBHOOK_MAX_ATTEMPTS"], backoff=config["JOBS_WEBHOOK_BACKOFF"]
    )
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("app.jobs.tasks.configure() was not called in this process")
    return _runtime


# --- scrape_item ----------------------------------------------------------------------------------


@queue.task(name=queries.SCRAPE_TASK, queue=queries.QUEUE, pass_context=True, retry=ItemRetry())
def scrape_item(context: procrastinate.JobContext, item_id: int) -> str:
    """Fetch one job item's URL and record its profile or error. Returns what happened
    (``succeeded``, ``failed``, ``skipped``) for the queue's logs."""
    return process_item(runtime(), item_id, context.job.id)


def process_item(rt: Runtime, item_id: int, task_id: int) -> str:
    """The body of ``scrape_item`` (separate for tests and benchmarks).

    Raises ``Reschedule`` when the host is backed off or answered 429, and lets unexpected
    errors through (procrastinate retries them) until the item's last attempt, which fails it.
    """
    config = rt.config
    with rt.pool.connection() as conn:
        item = queries.get_item(conn, item_id)
        if item is None or item["status"] not in queries.ACTIVE_ITEM_STATES:
            return "skipped"
        if item["task_id"] != task_id or item["job_status"] == "cancelled":
            return "skipped"
        wants_profile = "profile" in item["include"]
        ttl = config["PROFILE_CACHE_TTL"] if wants_profile else 0
        hit = profiles.cached(conn, identify(item["url"]), ttl)
        quick = hit is not None or not wants_profile  # nothing to fetch for the profile part
        if quick:
            if queries.start_item(conn, item_id, task_id) is None:
                return "skipped"
        else:
            started = queries.start_item(
                conn, item_id, task_id, item["host"], config["JOBS_HOST_SPACING_MS"]
            )
    if quick:
        return parts.finish(rt, item, profile=hit.data if hit else None, cached=hit is not None)
    if started is not None and started.get("outcome") == "backed_off":
        raise Reschedule(started["wait_seconds"] + 0.05, f"{item['host']} backed off after a 429")
    if started is not None and started.get("outcome") == "wait":
        time.sleep(started["wait_seconds"])  # bounded: at most JOBS_HOST_CONCURRENCY x the spacing
        with rt.pool.connection() as conn:
            started = queries.start_item(conn, item_id, task_id)
    if started is None:
        return "skipped"  # final, another task's, or cancelled meanwhile
    if started["attempts"] > config["JOBS_MAX_ATTEMPTS"]:
        return _fail(rt, item, "internal_error", "The item could not be processed.", {})
    try:
        result = profiles.scrape(started["url"], rt.fetch_settings)
    except UpstreamBlocked as err:
        if err.details.get("reason") == "status_429":
            _back_off(rt, started, err)
        return _fail(rt, item, err.code, err.message, err.details)
    except ApiError as err:
        return _fail(rt, item, err.code, err.message, err.details)
    except Exception:
        if started["attempts"] >= config["JOBS_MAX_ATTEMPTS"]:
            log.exception("job item %s failed on its last attempt", item_id)
            return _fail(rt, item, "internal_error", "The item could not be processed.", {})
        with rt.pool.connection() as conn:
            queries.requeue_item(conn, item_id)
        raise
    return parts.finish(rt, item, profile=result.data, cached=False, fetched=result)


def _back_off(rt: Runtime, item: dict[str, Any], err: UpstreamBlocked) -> None:
    """After a 429: back the host off for everyone and reschedule the item (unless this was its
    last attempt, in which case the caller fails it)."""
    config = rt.config
    asked = err.details.get("retry_after")
    delay = float(asked) if isinstance(asked, int | float) else config["JOBS_RETRY_AFTER_DEFAULT"]
    delay = min(max(delay, 0.1), config["JOBS_RETRY_AFTER_MAX"])
    with rt.pool.connection() as conn:
        queries.block_host(conn, item["host"], delay)
        if item["attempts"] >= config["JOBS_MAX_ATTEMPTS"]:
            return
        queries.requeue_item(conn, item["id"])
    raise Reschedule(delay, f"{item['host']} answered 429")


def _fail(
    rt: Runtime, item: dict[str, Any], code: str, message: str, details: dict[str, Any]
) -> str:
    """The profile part failed: finish the item (its posts part may still succeed)."""
    return parts.finish(rt, item, error=(code, message, details))


# --- deliver_webhook ------------------------------------------------------------------------------


@queue.task(
    name=queries.WEBHOOK_TASK,
    queue=queries.QUEUE,
    priority=queries.WEBHOOK_PRIORITY,
    pass_context=True,
    retry=WebhookRetry(),
)
def deliver_webhook(context: procrastinate.JobContext, job_id: str) -> str:
    """POST a finished job's summary to its ``webhook_url``, signed; one attempt per run,
    recorded in ``public.webhook_deliveries``. Raises ``WebhookFailed`` (retried with back-off)
    unless the receiver answers 2xx."""
    return deliver(runtime(), job_id, context.job.attempts + 1)


def webhook_body(job: dict[str, Any], event_id: str) -> bytes:
    """The event: ``{"id", "type": "job.<status>", "created", "data": <job summary>}``."""
    event = {
        "id": event_id,
        "type": f"job.{job['status']}",
        "created": int(time.time()),
        "data": job_summary(job),
    }
    return json.dumps(event, default=_json_default, separators=(",", ":")).encode()


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def deliver(rt: Runtime, job_id: str, attempt: int) -> str:
    """One delivery attempt (see ``deliver_webhook``)."""
    with rt.pool.connection() as conn:
        job = queries.webhook_target(conn, job_id)
    if job is None or not job["webhook_url"] or not job["webhook_secret"]:
        return "skipped"
    event_id = f"evt_{job['id'].hex}"
    body = webhook_body(job, event_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "CreatorScrape-Webhooks/1.0",
        "Accept": "*/*",
        signing.SIGNATURE_HEADER: signing.sign(job["webhook_secret"], body),
    }
    started = time.monotonic()
    status_code, error = _post(rt, job["webhook_url"], body, headers)
    succeeded = status_code is not None and 200 <= status_code < 300
    with rt.pool.connection() as conn:
        queries.record_delivery(
            conn,
            job_id=job["id"],
            user_id=job["user_id"],
            event_id=event_id,
            attempt=attempt,
            url=job["webhook_url"],
            status_code=status_code,
            error=error,
            duration_ms=round((time.monotonic() - started) * 1000),
            succeeded=succeeded,
        )
    if not succeeded:
        raise WebhookFailed(error or f"status_{status_code}")
    return "delivered"


def _post(
    rt: Runtime, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None]:
    """POST through the fetcher's guarded session (public addresses only, checked at connect
    time; no redirects followed; the fetch deadline bounds it). Returns (status, error)."""
    settings = dataclasses.replace(
        rt.fetch_settings,
        deadline=rt.config["JOBS_WEBHOOK_TIMEOUT"],
        read_timeout=rt.config["JOBS_WEBHOOK_TIMEOUT"],
    )
    try:
        target = fetch.validate_public_url(url, settings.allow_loopback)
    except ApiError as err:
        return None, err.details.get("reason") or err.code
    guard = fetch._FetchGuard(settings, time.monotonic())
    session = fetch._new_session(guard)
    try:
        response = session.post(
            target,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=(settings.connect_timeout, settings.read_timeout),
        )
        response.close()
    except ApiError as err:
        return None, err.details.get("reason") or err.code
    except requests.Timeout:
        return None, "timeout"
    except requests.RequestException:
        return None, "deadline" if guard.expired else "connection_error"
    finally:
        guard.close()
        session.close()
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"status_{response.status_code}"
