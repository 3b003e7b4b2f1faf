"""Batch jobs: every SQL statement of the jobs API and the queue workers.

Plain functions ``(conn, ...) -> dict``; no Flask. Functions that change several rows open
``conn.transaction()`` themselves or call one SQL function that does it all
(``private.start_job_item``, ``private.finish_job_item``, ``private.finish_job_if_done``:
one round trip per worker step), and always lock a job's row before its items' rows, so a
cancel, a starting item and a finishing item cannot deadlock.

Queue tasks are deferred with procrastinate's own SQL function
(``procrastinate.procrastinate_defer_jobs_v1``) inside the caller's transaction: the credit
reservation, the job rows and the queue tasks commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

QUEUE = "creatorscrape_jobs"
SCRAPE_TASK = "jobs.scrape_item"
WEBHOOK_TASK = "jobs.deliver_webhook"
WEBHOOK_PRIORITY = 10  # webhook deliveries are fetched before pending items

ACTIVE_ITEM_STATES = ("queued", "running")
FINAL_JOB_STATES = ("completed", "failed", "cancelled")

#: The webhook task the SQL functions queue when a job ends (``private.finish_job_if_done``).
_WEBHOOK_TASK_ARGS = {"queue": QUEUE, "task": WEBHOOK_TASK, "priority": WEBHOOK_PRIORITY}

_JOB_COLUMNS = sql.SQL(
    "id, seq, user_id, api_key_id, status, charge_ref, items_total, items_succeeded, items_failed,"
    " items_cancelled, credits_charged, credits_refunded, webhook_url, created_at, started_at,"
    " cancelled_at, finished_at, include, profile_cost, posts_cost"
)


def host_lock(host: str, position: int, host_concurrency: int) -> str | None:
    """The procrastinate ``lock`` of an item task: ``host:<host>:<slot>``, one of
    ``host_concurrency`` slots per host (None: no per-host limit). procrastinate runs at most one
    task per lock at a time, across all workers, in id order."""
    if host_concurrency <= 0:
        return None
    return f"host:{host}:{position % host_concurrency}"


def defer_items(
    conn: psycopg.Connection,
    item_ids: Sequence[int],
    locks: Sequence[str | None],
) -> list[int]:
    """Queue one ``SCRAPE_TASK`` per item (args ``{"item_id"}``) and record each task's id in
    ``job_items.task_id``. Returns the task ids. Run it inside the transaction that created the
    items."""
    row = conn.execute(
        "select procrastinate.procrastinate_defer_jobs_v1(array("
        "  select row(%(queue)s, %(task)s, 0, t.lock, null,"
        "             jsonb_build_object('item_id', t.id), null)"
        "         ::procrastinate.procrastinate_job_to_defer_v1"
        "    from unnest(%(ids)s::bigint[], %(locks)s::text[]) with ordinality as t(id, lock, n)"
        "   order by t.n)) as task_ids",
        {"queue": QUEUE, "task": SCRAPE_TASK, "ids": list(item_ids), "locks": list(locks)},
    ).fetchone()
    task_ids = list(_value(row, "task_ids") or [])
    conn.execute(
        "update public.job_items i set task_id = t.id"
        "  from procrastinate.procrastinate_jobs t"
        " where t.id = any(%(task_ids)s) and i.id = (t.args ->> 'item_id')::bigint",
        {"task_ids": task_ids},
    )
    return task_ids


def _value(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else row[0]


def create_job(
    conn: psycopg.Connection,
    *,
    user_id: UUID | str,
    api_key_id: UUID | str | None,
    charge_ref: str,
    urls: Sequence[str],
    hosts: Sequence[str],
    webhook_url: str | None,
    webhook_secret: str | None,
    host_concurrency: int,
    include: Sequence[str] = ("profile",),
    profile_cost: int = 1,
    posts_cost: int = 0,
) -> dict[str, Any]:
    """Insert a job, its items (one per URL, in order) and their queue tasks. Run it inside the
    transaction that reserved ``len(urls) * (profile_cost + posts_cost)`` credits under
    ``charge_ref``. Returns the job row."""
    job = conn.execute(
        sql.SQL(
            "with j as ("
            "  insert into public.jobs (user_id, api_key_id, charge_ref, items_total,"
            "                           credits_charged, webhook_url, include, profile_cost,"
            "                           posts_cost)"
            "  values (%(user)s, %(key)s, %(ref)s, %(n)s, %(credits)s, %(url)s, %(include)s,"
            "          %(profile_cost)s, %(posts_cost)s) returning {cols}),"
            " s as (insert into private.job_webhook_secrets (job_id, secret)"
            "       select j.id, %(secret)s::text from j where %(secret)s::text is not null)"
            " select * from j"
        ).format(cols=_JOB_COLUMNS),
        {
            "user": user_id,
            "key": api_key_id,
            "ref": charge_ref,
            "n": len(urls),
            "credits": len(urls) * (profile_cost + posts_cost),
            "url": webhook_url,
            "secret": webhook_secret,
            "include": list(include),
            "profile_cost": profile_cost,
            "posts_cost": posts_cost,
        },
    ).fetchone()
    items = conn.execute(
        "insert into public.job_items (job_id, user_id, position, url, host)"
        " select %(job)s, %(user)s, t.n - 1, t.url, t.host"
        "   from unnest(%(urls)s::text[], %(hosts)s::text[]) with ordinality as t(url, host, n)"
        " returning id, position, host",
        {"job": job["id"], "user": user_id, "urls": list(urls), "hosts": list(hosts)},
    ).fetchall()
    items.sort(key=lambda r: r["position"])
    defer_items(
        conn,
        [r["id"] for r in items],
        [host_lock(r["host"], r["position"], host_concurrency) for r in items],
    )
    return job


def get_job(
    conn: psycopg.Connection, job_id: UUID | str, user_id: UUID | str | None = None
) -> dict[str, Any] | None:
    """A job row (without its webhook secret), optionally only if ``user_id`` owns it."""
    return conn.execute(
        sql.SQL(
            "select {cols} from public.jobs"
            " where id = %(id)s and (%(user)s::uuid is null or user_id = %(user)s)"
        ).format(cols=_JOB_COLUMNS),
        {"id": job_id, "user": user_id},
    ).fetchone()


def webhook_target(conn: psycopg.Connection, job_id: UUID | str) -> dict[str, Any] | None:
    """A job row with ``webhook_secret`` (from ``private.job_webhook_secrets``; None for a job
    without a webhook). Workers only."""
    return conn.execute(
        sql.SQL(
            "select {cols}, s.secret as webhook_secret from public.jobs"
            " left join private.job_webhook_secrets s on s.job_id = jobs.id where jobs.id = %s"
        ).format(cols=_JOB_COLUMNS),
        (job_id,),
    ).fetchone()


def list_jobs(
    conn: psycopg.Connection,
    user_id: UUID | str,
    limit: int,
    before_seq: int | None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` jobs of a user, newest first, with ``seq < before_seq`` if given."""
    return conn.execute(
        sql.SQL(
            "select {cols} from public.jobs"
            " where user_id = %(user)s"
            "   and (%(before)s::bigint is null or seq < %(before)s)"
            "   and (%(status)s::text is null or status = %(status)s)"
            " order by seq desc limit %(limit)s"
        ).format(cols=_JOB_COLUMNS),
        {"user": user_id, "before": before_seq, "status": status, "limit": limit},
    ).fetchall()


def list_items(
    conn: psycopg.Connection, job_id: UUID | str, limit: int, after_id: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` items of a job in URL order, with ``id > after_id`` if given."""
    return conn.execute(
        "select id, position, url, status, attempts, profile, cached, error_code, error_message,"
        "       error_details, started_at, finished_at, posts, posts_error_code,"
        "       posts_error_message"
        "  from public.job_items"
        " where job_id = %(job)s and (%(after)s::bigint is null or id > %(after)s)"
        " order by id limit %(limit)s",
        {"job": job_id, "after": after_id, "limit": limit},
    ).fetchall()


def list_deliveries(
    conn: psycopg.Connection, job_id: UUID | str, limit: int = 20
) -> list[dict[str, Any]]:
    """The latest ``limit`` webhook delivery attempts of a job, oldest first."""
    rows = conn.execute(
        "select attempt, event_id, url, status_code, error, duration_ms, succeeded, created_at"
        "  from public.webhook_deliveries where job_id = %s order by id desc limit %s",
        (job_id, limit),
    ).fetchall()
    return rows[::-1]


def _finish_job_if_done(conn: psycopg.Connection, job_id: UUID | str) -> dict[str, Any]:
    """Inside the transaction that holds the job's row lock: when every item is final, set the
    final status and ``finished_at`` and queue the webhook, exactly once
    (``private.finish_job_if_done``). Returns the job row."""
    return conn.execute(
        sql.SQL(
            "select {cols} from private.finish_job_if_done(%(job)s, %(queue)s, %(task)s,"
            " %(priority)s)"
        ).format(cols=_JOB_COLUMNS),
        {"job": job_id, **_WEBHOOK_TASK_ARGS},
    ).fetchone()


def cancel_job(
    conn: psycopg.Connection, job_id: UUID | str, user_id: UUID | str
) -> dict[str, Any] | None:
    """Cancel a user's job: its queued items become ``cancelled`` and are refunded (one
    ``refund_credits(charge_ref, profile_cost + posts_cost, '<job>:<item>')`` each), their
    queue tasks are cancelled; items already running finish normally. Returns the job row
    (unchanged if it was already final), or None if the user has no such job."""
    with conn.transaction():
        job = conn.execute(
            sql.SQL(
                "select {cols} from public.jobs where id = %s and user_id = %s for update"
            ).format(cols=_JOB_COLUMNS),
            (job_id, user_id),
        ).fetchone()
        if job is None or job["status"] in FINAL_JOB_STATES:
            return job
        items = conn.execute(
            "update public.job_items set status = 'cancelled', finished_at = now()"
            " where job_id = %s and status = 'queued' returning id, task_id",
            (job_id,),
        ).fetchall()
        ids = [r["id"] for r in items]
        refunded = conn.execute(
            "select coalesce(sum(r.refunded), 0)::integer as refunded"
            "  from unnest(%(ids)s::bigint[]) as i(id),"
            "       lateral public.refund_credits(%(ref)s, %(price)s, %(job)s || ':' || i.id) as r",
            {
                "ids": ids,
                "ref": job["charge_ref"],
                "price": job["profile_cost"] + job["posts_cost"],
                "job": str(job_id),
            },
        ).fetchone()["refunded"]
        conn.execute(
            "select procrastinate.procrastinate_cancel_job_v1(t, false, false)"
            "  from unnest(%s::bigint[]) as t where t is not null",
            ([r["task_id"] for r in items],),
        )
        job = conn.execute(
            sql.SQL(
                "update public.jobs set status = 'cancelled', cancelled_at = now(),"
                "       items_cancelled = items_cancelled + %s,"
                "       credits_refunded = credits_refunded + %s"
                " where id = %s returning {cols}"
            ).format(cols=_JOB_COLUMNS),
            (len(ids), refunded, job_id),
        ).fetchone()
        return _finish_job_if_done(conn, job["id"])


# --- worker side --------------------------------------------------------------------------------


def get_item(conn: psycopg.Connection, item_id: int) -> dict[str, Any] | None:
    """An item with its job's status (None if it no longer exists)."""
    return conn.execute(
        "select i.id, i.job_id, i.position, i.url, i.host, i.status, i.attempts, i.task_id,"
        "       j.status as job_status, j.include, j.profile_cost, j.posts_cost"
        "  from public.job_items i join public.jobs j on j.id = i.job_id where i.id = %s",
        (item_id,),
    ).fetchone()


def start_item(
    conn: psycopg.Connection,
    item_id: int,
    task_id: int,
    host: str | None = None,
    spacing_ms: int | None = None,
) -> dict[str, Any] | None:
    """Mark an item ``running`` and count the attempt, unless it is final or belongs to another
    task (then None: the caller does nothing). Marks its job ``running`` on the first start.

    With ``spacing_ms`` (and the item's ``host``), politeness first, in the same call
    (``private.start_job_item``): the host's next start slot is taken (``spacing_ms`` between
    starts, across all workers) and the item starts only if that slot is now. Otherwise nothing
    is started and the answer is ``{"outcome": "wait", "wait_seconds"}`` (sleep, then call again
    without ``spacing_ms``) or ``{"outcome": "backed_off", "wait_seconds"}`` (the host is backed
    off after a 429: reschedule). A started item is ``{"outcome": "started", "id", "job_id",
    "url", "host", "attempts"}``."""
    row = conn.execute(
        "select outcome, wait_seconds, job_id, url, host, attempts"
        "  from private.start_job_item(%s, %s, %s, %s)",
        (item_id, task_id, host, spacing_ms),
    ).fetchone()
    if row["outcome"] == "skipped":
        return None
    if row["outcome"] == "started":
        return {"id": item_id, **row}
    return {"outcome": row["outcome"], "wait_seconds": row["wait_seconds"]}


def requeue_item(conn: psycopg.Connection, item_id: int) -> None:
    """Put a running item back to ``queued`` (its task was rescheduled, e.g. after a 429)."""
    conn.execute(
        "update public.job_items set status = 'queued' where id = %s and status = 'running'",
        (item_id,),
    )


def finish_item(
    conn: psycopg.Connection,
    item_id: int,
    status: str,
    *,
    profile: dict[str, Any] | None = None,
    cached: bool | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    error_details: dict[str, Any] | None = None,
    posts: dict[str, Any] | None = None,
    posts_error_code: str | None = None,
    posts_error_message: str | None = None,
    refund: int | None = None,
    fetch: bool = True,
) -> dict[str, Any] | None:
    """Move an item to ``succeeded`` or ``failed``, once: an item already final is left alone
    (returns None), so a redelivered task changes nothing. ``profile``/``cached`` or
    ``error_*`` record the profile part, ``posts`` or ``posts_error_*`` the posts part.
    ``refund`` credits (default: the item's whole price ``profile_cost + posts_cost`` when it
    failed, else none; a succeeded item whose posts part failed refunds that part; never more
    than the price) go back with ``refund_credits(charge_ref, refund, '<job>:<item>')`` in the
    same transaction (the refund ref makes it exactly-once even beyond this check). One call
    (``private.finish_job_item``) that also updates the job's counters and ends the job after
    its last item. Returns the updated job row; with ``fetch=False``, None without reading it
    (inside ``conn.pipeline()`` reading a row costs a round trip of its own). Raises
    ``ValueError`` for any other ``status``; a ``refund`` outside ``0..price`` raises
    ``psycopg.errors.InvalidParameterValue``."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"not a final item status: {status}")
    cur = conn.execute(
        sql.SQL(
            "select {cols} from private.finish_job_item(%(id)s, %(status)s, %(profile)s,"
            " %(cached)s, %(code)s, %(message)s, %(details)s, %(posts)s, %(posts_code)s,"
            " %(posts_message)s, %(refund)s, %(queue)s, %(task)s, %(priority)s)"
        ).format(cols=_JOB_COLUMNS),
        {
            "id": item_id,
            "status": status,
            "profile": Jsonb(profile) if profile is not None else None,
            "cached": cached,
            "code": error_code,
            "message": error_message,
            "details": Jsonb(error_details) if error_details is not None else None,
            "posts": Jsonb(posts) if posts is not None else None,
            "posts_code": posts_error_code,
            "posts_message": posts_error_message,
            "refund": refund,
            **_WEBHOOK_TASK_ARGS,
        },
    )
    return cur.fetchone() if fetch else None


def take_host_slot(conn: psycopg.Connection, host: str, spacing_ms: int) -> float | None:
    """Politeness for one request to ``host`` (``private.take_host_slot``, one statement):
    with ``spacing_ms`` > 0 the host's next start slot is taken (``spacing_ms`` apart, shared by
    all workers). Returns seconds to wait before the request (0 or more), or None while the
    host is backed off after a 429 (``block_host``)."""
    row = conn.execute(
        "select backed_off, wait_seconds from private.take_host_slot(%s, %s)", (host, spacing_ms)
    ).fetchone()
    return None if row["backed_off"] else float(row["wait_seconds"])


def block_host(conn: psycopg.Connection, host: str, seconds: float) -> datetime:
    """Back ``host`` off for ``seconds`` (never shortening a longer back-off). Returns the end."""
    return conn.execute(
        "insert into private.host_politeness as h (host, blocked_until)"
        " values (%(host)s, now() + %(s)s * interval '1 second')"
        " on conflict (host) do update"
        "   set blocked_until = greatest(coalesce(h.blocked_until, now()),"
        "                                now() + %(s)s * interval '1 second'),"
        "       updated_at = now()"
        " returning blocked_until",
        {"host": host, "s": seconds},
    ).fetchone()["blocked_until"]


def record_delivery(
    conn: psycopg.Connection,
    *,
    job_id: UUID | str,
    user_id: UUID | str,
    event_id: str,
    attempt: int,
    url: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    succeeded: bool,
) -> None:
    """Record one webhook delivery attempt."""
    conn.execute(
        "insert into public.webhook_deliveries (job_id, user_id, event_id, attempt, url,"
        "                                       status_code, error, duration_ms, succeeded)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (job_id, user_id, event_id, attempt, url, status_code, error, duration_ms, succeeded),
    )
