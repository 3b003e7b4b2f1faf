"""Batch jobs: every SQL statement of the jobs API and the queue workers.

Plain functions ``(conn, ...) -> dict``; no Flask. Functions that change several rows open
``conn.transaction()`` themselves, and always lock a job's row before its items' rows, so a
cancel and a finishing item cannot deadlock.

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

from app.queries import credits as credit_queries

QUEUE = "creatorscrape_jobs"
SCRAPE_TASK = "jobs.scrape_item"
WEBHOOK_TASK = "jobs.deliver_webhook"
WEBHOOK_PRIORITY = 10  # webhook deliveries are fetched before pending items

ACTIVE_ITEM_STATES = ("queued", "running")
FINAL_JOB_STATES = ("completed", "failed", "cancelled")

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


def _defer_webhook(conn: psycopg.Connection, job_id: UUID | str) -> None:
    conn.execute(
        "select procrastinate.procrastinate_defer_jobs_v1(array["
        "  row(%(queue)s, %(task)s, %(priority)s, null, null,"
        "      jsonb_build_object('job_id', %(job)s::text), null)"
        "  ::procrastinate.procrastinate_job_to_defer_v1])",
        {"queue": QUEUE, "task": WEBHOOK_TASK, "priority": WEBHOOK_PRIORITY, "job": str(job_id)},
    )


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


def _finish_job_if_done(conn: psycopg.Connection, job: dict[str, Any]) -> dict[str, Any]:
    """Inside the transaction that holds ``job``'s row lock: when every item is final, set the
    final status and ``finished_at`` and queue the webhook (exactly once)."""
    settled = job["items_succeeded"] + job["items_failed"] + job["items_cancelled"]
    if job["finished_at"] is not None or settled < job["items_total"]:
        return job
    job = conn.execute(
        sql.SQL(
            "update public.jobs set finished_at = now(),"
            "       status = case when status = 'cancelled' then 'cancelled'"
            "                     when items_succeeded > 0 then 'completed' else 'failed' end"
            " where id = %s returning {cols}"
        ).format(cols=_JOB_COLUMNS),
        (job["id"],),
    ).fetchone()
    if job["webhook_url"]:
        _defer_webhook(conn, job["id"])
    return job


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
        return _finish_job_if_done(conn, job)


# --- worker side --------------------------------------------------------------------------------


def get_item(conn: psycopg.Connection, item_id: int) -> dict[str, Any] | None:
    """An item with its job's status (None if it no longer exists)."""
    return conn.execute(
        "select i.id, i.job_id, i.position, i.url, i.host, i.status, i.attempts, i.task_id,"
        "       j.status as job_status, j.include, j.profile_cost, j.posts_cost"
        "  from public.job_items i join public.jobs j on j.id = i.job_id where i.id = %s",
        (item_id,),
    ).fetchone()


def start_item(conn: psycopg.Connection, item_id: int, task_id: int) -> dict[str, Any] | None:
    """Mark an item ``running`` and count the attempt, unless it is final or belongs to another
    task (then None: the caller does nothing). Marks its job ``running`` on the first start."""
    item = conn.execute(
        "update public.job_items"
        "   set status = 'running', attempts = attempts + 1,"
        "       started_at = coalesce(started_at, now())"
        " where id = %s and task_id = %s and status in ('queued', 'running')"
        " returning id, job_id, url, host, attempts",
        (item_id, task_id),
    ).fetchone()
    if item is not None:
        conn.execute(
            "update public.jobs set status = 'running', started_at = now()"
            " where id = %s and status = 'queued'",
            (item["job_id"],),
        )
    return item


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
) -> dict[str, Any] | None:
    """Move an item to ``succeeded`` or ``failed``, once: an item already final is left alone
    (returns None), so a redelivered task changes nothing. ``refund`` credits (default: the
    item's whole price when it failed, else none; a succeeded item whose posts part failed
    refunds that part) go back with ``refund_credits(charge_ref, refund, '<job>:<item>')`` in
    the same transaction (the refund ref makes it exactly-once even beyond this check).
    Returns the updated job row."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"not a final item status: {status}")
    with conn.transaction():
        job = conn.execute(
            sql.SQL(
                "select {cols} from public.jobs"
                " where id = (select job_id from public.job_items where id = %s) for update"
            ).format(cols=_JOB_COLUMNS),
            (item_id,),
        ).fetchone()
        if job is None:
            return None
        item = conn.execute(
            "update public.job_items"
            "   set status = %(status)s, profile = %(profile)s, cached = %(cached)s,"
            "       error_code = %(code)s, error_message = %(message)s,"
            "       error_details = %(details)s, posts = %(posts)s,"
            "       posts_error_code = %(posts_code)s, posts_error_message = %(posts_message)s,"
            "       started_at = coalesce(started_at, now()), finished_at = now()"
            " where id = %(id)s and status in ('queued', 'running')"
            " returning id",
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
            },
        ).fetchone()
        if item is None:
            return None
        if refund is None:
            refund = job["profile_cost"] + job["posts_cost"] if status == "failed" else 0
        refunded = 0
        if refund > 0:
            ref = f"{job['id']}:{item_id}"
            refunded = credit_queries.refund(conn, job["charge_ref"], refund, ref)["refunded"]
        job = conn.execute(
            sql.SQL(
                "update public.jobs"
                "   set items_succeeded = items_succeeded + %(ok)s,"
                "       items_failed = items_failed + %(failed)s,"
                "       credits_refunded = credits_refunded + %(refunded)s"
                " where id = %(job)s returning {cols}"
            ).format(cols=_JOB_COLUMNS),
            {
                "ok": int(status == "succeeded"),
                "failed": int(status == "failed"),
                "refunded": refunded,
                "job": job["id"],
            },
        ).fetchone()
        return _finish_job_if_done(conn, job)


def reserve_host_start(conn: psycopg.Connection, host: str, spacing_ms: int) -> float | None:
    """Take the next start slot of ``host`` (spacing ``spacing_ms`` between starts, shared by all
    workers). Returns seconds to wait before starting (0 or more), or None while the host is
    backed off after a 429 (see ``host_blocked_for``)."""
    row = conn.execute(
        "insert into private.host_politeness as h (host, next_start_at)"
        " values (%(host)s, now() + %(ms)s * interval '1 millisecond')"
        " on conflict (host) do update"
        "   set next_start_at = greatest(h.next_start_at, now())"
        "                       + %(ms)s * interval '1 millisecond',"
        "       updated_at = now()"
        " where h.blocked_until is null or h.blocked_until <= now()"
        " returning greatest(0, extract(epoch from h.next_start_at - now())"
        "                       - %(ms)s / 1000.0)::float8 as wait",
        {"host": host, "ms": spacing_ms},
    ).fetchone()
    return None if row is None else float(row["wait"])


def host_blocked_for(conn: psycopg.Connection, host: str) -> float:
    """Seconds left of ``host``'s 429 back-off (0 when not backed off)."""
    row = conn.execute(
        "select greatest(0, extract(epoch from blocked_until - now()))::float8 as left"
        "  from private.host_politeness where host = %s",
        (host,),
    ).fetchone()
    return float(row["left"] or 0) if row else 0.0


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
