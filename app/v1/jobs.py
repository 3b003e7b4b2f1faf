"""Batch jobs: ``POST /v1/jobs/create``, ``GET /v1/jobs/get``, ``GET /v1/jobs/results``,
``GET /v1/jobs/list``, ``POST /v1/jobs/cancel``.

A job reserves one credit per accepted URL in one ``spend_credits`` call, in the same transaction
that creates the job, its items and their queue tasks; each item that fails (or is cancelled
before it runs) refunds its credit once. Workers (``flask --app wsgi worker``) do the fetching.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from flask import current_app, g
from pydantic import BaseModel, Field

from app import db
from app.errors import (
    AccountSuspended,
    ApiError,
    Conflict,
    IdempotencyConflict,
    InsufficientCredits,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from app.idempotency import IdempotencyInProgress, idempotent
from app.jobs import signing
from app.jobs.summary import job_summary
from app.openapi import (
    API_KEY_ERRORS,
    API_KEY_SECURITY,
    QueryModel,
    error_responses,
    resource_blueprint,
)
from app.pagination import PageMeta, PageQuery, decode_cursor, page, page_meta
from app.queries import jobs as queries
from app.scraping.fetch import MAX_URL_LENGTH, validate_public_url
from app.scraping.urls import CreatorRef, assume_https, identify
from app.security import api_key_required, charge

bp = resource_blueprint(
    "jobs",
    __name__,
    "/jobs",
    "Batch lookups: many creator profile URLs in one job, processed in the background.",
    API_KEY_SECURITY,
)

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
ItemStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Part = Literal["profile", "posts"]
HARD_MAX_URLS = 10_000  # no server accepts more; the OpenAPI maxItems is max_urls() (app.spec)


def max_urls() -> int:
    """URLs accepted per job here: ``JOBS_MAX_URLS``, never above ``HARD_MAX_URLS``."""
    return min(current_app.config["JOBS_MAX_URLS"], HARD_MAX_URLS)


class JobFinished(Conflict):
    """409 ``job_finished``: the job already completed or failed; there is nothing to cancel."""

    code = "job_finished"
    default_message = "This job has already finished."


class JobsUnavailable(Unavailable):
    """503 ``jobs_unavailable``: the job queue's tables are not installed on this server (only
    ``supabase db push`` was run, not ``flask --app wsgi db migrate``); nothing was charged."""

    code = "jobs_unavailable"
    default_message = "Batch jobs are not available on this server right now; nothing was charged."


#: What Postgres raises when the ``procrastinate`` schema (or part of it) is missing.
_QUEUE_MISSING = (
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedObject,
)


# --- models ---------------------------------------------------------------------------------------


class CreateJobBody(BaseModel):
    urls: list[str] = Field(
        min_length=1,
        max_length=HARD_MAX_URLS,
        description=(
            "Profile URLs (http/https; https:// is assumed if missing). Duplicates (URLs naming "
            "the same creator: case, trailing slash, www.) are removed. At least one; at most "
            "the server's JOBS_MAX_URLS (default 1000, this document's maxItems) per job."
        ),
        examples=[["https://www.youtube.com/@mkbhd", "https://bsky.app/profile/jay.bsky.team"]],
    )
    webhook_url: str | None = Field(
        None,
        max_length=MAX_URL_LENGTH,
        description="Public https URL that receives the signed job summary when the job ends.",
    )
    include: list[Part] = Field(
        ["profile"],
        min_length=1,
        max_length=2,
        description="What to look up for every URL: `profile` (1 credit) and/or `posts` "
        "(`POSTS_COST`, 2 credits: the newest 12 posts and their aggregates, as "
        "`GET /v1/creators/posts`). Each part is refunded when it fails.",
    )


class JobIdQuery(QueryModel):
    id: UUID = Field(description="The job id returned by POST /v1/jobs/create.")


class CancelBody(BaseModel):
    id: UUID = Field(description="The job to cancel.")


class ResultsQuery(JobIdQuery, PageQuery):
    """``id`` of the job, with ``limit`` and ``cursor``."""


class ListQuery(PageQuery):
    status: JobStatus | None = Field(None, description="Only jobs in this status.")


class JobCounts(BaseModel):
    total: int = Field(description="Accepted URLs (items).")
    done: int = Field(description="Items in a final state (succeeded + failed + cancelled).")
    succeeded: int
    failed: int
    cancelled: int
    pending: int = Field(description="Items queued or running.")


class WebhookDelivery(BaseModel):
    attempt: int
    status_code: int | None = Field(description="HTTP status answered (null: no answer).")
    error: str | None = Field(description="status_<n>, timeout, connection_error, ...")
    duration_ms: int | None
    succeeded: bool
    at: datetime


class JobWebhook(BaseModel):
    url: str
    deliveries: list[WebhookDelivery] | None = Field(
        None, description="Delivery attempts so far (GET /v1/jobs/get)."
    )


class Job(BaseModel):
    id: UUID
    status: JobStatus = Field(
        description=(
            "queued (nothing started), running, completed (all items done, at least one "
            "succeeded), failed (all items failed), cancelled."
        )
    )
    counts: JobCounts
    progress: float = Field(description="Percent of items in a final state (0-100).")
    include: list[Part] = Field(description="The parts looked up for every URL.")
    credits_charged: int = Field(
        description="Credits reserved: the price of the included parts per accepted URL."
    )
    credits_refunded: int = Field(description="Credits given back for failed/cancelled items.")
    created_at: datetime
    started_at: datetime | None
    cancelled_at: datetime | None
    finished_at: datetime | None
    webhook: JobWebhook | None


class RejectedUrl(BaseModel):
    index: int = Field(description="Position in the submitted `urls`.")
    url: str
    code: str = Field(description="validation_error or url_not_allowed.")
    message: str


class CreatedJob(Job):
    rejected: list[RejectedUrl] = Field(description="Submitted URLs refused (not charged).")
    duplicates: int = Field(
        description="Submitted URLs naming the same creator as an earlier one (not charged)."
    )
    webhook_secret: str | None = Field(
        description=(
            "Signing secret of this job's webhook (whsec_...), shown only here. Verify the "
            "CreatorScrape-Signature header with it."
        )
    )


class CreateMeta(BaseModel):
    request_id: str
    credits_charged: int
    credits_remaining: int = Field(description="Your balance after the reservation.")


class CreateResponse(BaseModel):
    data: CreatedJob
    meta: CreateMeta


class Meta(BaseModel):
    request_id: str


class JobResponse(BaseModel):
    data: Job
    meta: Meta


class ItemError(BaseModel):
    code: str = Field(
        description=(
            "creator_not_found, upstream_blocked, upstream_error, upstream_timeout, "
            "url_not_allowed, internal_error"
        )
    )
    message: str | None
    details: dict[str, Any] | None


class JobResult(BaseModel):
    url: str
    status: ItemStatus = Field(description="succeeded when any included part succeeded.")
    attempts: int
    profile: dict[str, Any] | None = Field(description="The CreatorProfile (succeeded items).")
    cached: bool | None
    error: ItemError | None = Field(
        description="Why the item failed (the profile part's error, or the posts part's when "
        "only posts were included)."
    )
    posts: dict[str, Any] | None = Field(
        None,
        description="With `include` posts: the `GET /v1/creators/posts` data (12 newest posts).",
    )
    posts_error: ItemError | None = Field(
        None,
        description="Why the posts part failed (refunded): posts_not_available, no_posts, or "
        "an upstream error code.",
    )
    finished_at: datetime | None


class ResultsResponse(BaseModel):
    data: list[JobResult]
    meta: PageMeta


class ListResponse(BaseModel):
    data: list[Job]
    meta: PageMeta


_READ_ERRORS = error_responses(*API_KEY_ERRORS, AccountSuspended, NotFound)


# --- views ----------------------------------------------------------------------------------------


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(details={"fields": [{"field": field, "message": message}]})


def _accept_urls(urls: list[str], allow_loopback: bool) -> tuple[list[str], list[dict], int]:
    """(accepted normalised URLs in order, rejected entries, duplicates dropped). Two URLs are
    duplicates when they name the same creator (``identify``: the cache's identity), so letter
    case, a trailing slash or ``www.`` on a platform URL never charge one creator twice."""
    accepted: list[str] = []
    seen: set[CreatorRef] = set()
    rejected: list[dict] = []
    duplicates = 0
    for index, raw in enumerate(urls):
        try:
            normalised = validate_public_url(assume_https(raw), allow_loopback=allow_loopback)
        except ApiError as err:  # ValidationFailed (malformed) or UrlNotAllowed (non-public)
            fields = err.details.get("fields") or [{}]
            message = fields[0].get("message", err.message)
            rejected.append({"index": index, "url": raw, "code": err.code, "message": message})
            continue
        identity = identify(normalised)
        if identity in seen:
            duplicates += 1
            continue
        seen.add(identity)
        accepted.append(normalised)
    return accepted, rejected, duplicates


@bp.post(
    "/create",
    responses={
        202: CreateResponse,
        **error_responses(
            *API_KEY_ERRORS,
            InsufficientCredits,
            AccountSuspended,
            IdempotencyConflict,
            IdempotencyInProgress,
            JobsUnavailable,
        ),
    },
)
@api_key_required(cost=None)
@idempotent
def create_job(body: CreateJobBody):
    """Start a batch job: look up many creator profiles in the background.

    Every URL is validated first: malformed or non-public ones are listed in `rejected` and not
    charged; duplicates are dropped. The price of the `include`d parts (profile 1 credit, posts
    `POSTS_COST`) per accepted URL is reserved at once (one ledger row, ref = this request id);
    every part that fails is refunded (one ledger row per item), so you pay for what you get.
    Poll `GET /v1/jobs/get`, read `GET /v1/jobs/results`, or pass `webhook_url` to be called
    when the job ends. Supports `Idempotency-Key`.

    Errors: 400 `validation_error` (no URLs, more than JOBS_MAX_URLS, every URL invalid:
    `details.fields` names each bad item as `urls[<index>]`; a bad `webhook_url`), 401
    `invalid_api_key`, 402 `insufficient_credits` (`details.required`, `balance`, `shortfall`;
    nothing is created), 403 `account_suspended`, 409 `idempotency_conflict`, 429
    `rate_limited`, 503 `jobs_unavailable` (the server's job queue is not installed; nothing is
    charged).
    """
    config = current_app.config
    allow_loopback = config["FETCH_ALLOW_LOOPBACK"]
    if len(body.urls) > max_urls():
        raise _bad("urls", f"At most {max_urls()} URLs per job.")
    webhook_url = None
    if body.webhook_url is not None:
        try:
            webhook_url = validate_public_url(body.webhook_url.strip(), allow_loopback)
        except ApiError as err:
            raise _bad("webhook_url", err.message) from None
    accepted, rejected, duplicates = _accept_urls(body.urls, allow_loopback)
    if not accepted:
        raise ValidationFailed(
            "None of the URLs can be looked up.",
            details={
                "fields": [
                    {"field": f"urls[{r['index']}]", "message": f"{r['code']}: {r['message']}"}
                    for r in rejected
                ]
            },
        )
    secret = signing.new_secret() if webhook_url else None
    include = sorted(set(body.include), key=["profile", "posts"].index)
    profile_cost = 1 if "profile" in include else 0
    posts_cost = config["POSTS_COST"] if "posts" in include else 0
    try:
        with db.connection() as conn, conn.transaction():
            # commits only together with the job
            principal = charge(len(accepted) * (profile_cost + posts_cost), conn)
            job = queries.create_job(
                conn,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
                charge_ref=principal.ref,
                urls=accepted,
                hosts=[urlsplit(u).hostname or "" for u in accepted],
                webhook_url=webhook_url,
                webhook_secret=secret,
                host_concurrency=config["JOBS_HOST_CONCURRENCY"],
                include=include,
                profile_cost=profile_cost,
                posts_cost=posts_cost,
            )
    except _QUEUE_MISSING as exc:  # the charge rolled back with the transaction
        log.error("job queue schema missing (run `flask --app wsgi db migrate`): %s", exc.sqlstate)
        raise JobsUnavailable() from None
    data = {
        **job_summary(job, []),
        "rejected": rejected,
        "duplicates": duplicates,
        "webhook_secret": secret,
    }
    meta = {
        "request_id": g.request_id,
        "credits_charged": principal.charged,
        "credits_remaining": principal.balance,
    }
    return {"data": data, "meta": meta}, 202


def _own_job(conn: Any, job_id: UUID) -> dict[str, Any]:
    job = queries.get_job(conn, job_id, g.principal.user_id)
    if job is None:
        raise NotFound("No such job.")
    return job


@bp.get("/get", responses={200: JobResponse, **_READ_ERRORS})
@api_key_required(cost=0)
def get_job(query: JobIdQuery):
    """A job's status, counts, progress, credits and webhook delivery attempts. Free.

    Errors: 400 `validation_error`, 401 `invalid_api_key`, 404 `not_found` (no such job, or
    not yours), 429 `rate_limited`.
    """
    with db.connection() as conn:
        job = _own_job(conn, query.id)
        deliveries = queries.list_deliveries(conn, job["id"])
    return {"data": job_summary(job, deliveries), "meta": {"request_id": g.request_id}}


@bp.get("/results", responses={200: ResultsResponse, **_READ_ERRORS})
@api_key_required(cost=0)
def get_results(query: ResultsQuery):
    """One row per accepted URL, in submission order: the profile, or the error code. Free.
    Cursor-paginated: pass `meta.next_cursor` back as `cursor` until it is null.

    Errors: 400 `validation_error` (also a bad cursor), 401 `invalid_api_key`, 404
    `not_found`, 429 `rate_limited`.
    """
    after = decode_cursor(query.cursor)
    with db.connection() as conn:
        job = _own_job(conn, query.id)
        rows = queries.list_items(conn, job["id"], query.limit + 1, after)
    rows, next_cursor = page(rows, query.limit)
    data = [
        {
            "url": r["url"],
            "status": r["status"],
            "attempts": r["attempts"],
            "profile": r["profile"],
            "cached": r["cached"],
            "error": (
                {
                    "code": r["error_code"],
                    "message": r["error_message"],
                    "details": r["error_details"],
                }
                if r["error_code"]
                else None
            ),
            "posts": r["posts"],
            "posts_error": (
                {
                    "code": r["posts_error_code"],
                    "message": r["posts_error_message"],
                    "details": None,
                }
                if r["posts_error_code"]
                else None
            ),
            "finished_at": r["finished_at"],
        }
        for r in rows
    ]
    return {"data": data, "meta": page_meta(g.request_id, next_cursor)}


@bp.get("/list", responses={200: ListResponse, **_READ_ERRORS})
@api_key_required(cost=0)
def list_jobs(query: ListQuery):
    """Your jobs, newest first (optionally one `status`). Free. Cursor-paginated.

    Errors: 400 `validation_error`, 401 `invalid_api_key`, 429 `rate_limited`.
    """
    before = decode_cursor(query.cursor)
    with db.connection() as conn:
        rows = queries.list_jobs(conn, g.principal.user_id, query.limit + 1, before, query.status)
    rows, next_cursor = page(rows, query.limit, key="seq")
    data = [job_summary(r) for r in rows]
    return {"data": data, "meta": page_meta(g.request_id, next_cursor)}


@bp.post(
    "/cancel",
    responses={200: JobResponse, **error_responses(*API_KEY_ERRORS, NotFound, JobFinished)},
)
@api_key_required(cost=0)
def cancel_job(body: CancelBody):
    """Cancel a job: items not started yet are stopped and their credits refunded at once;
    items already being fetched finish (and are paid or refunded as usual). Cancelling a
    cancelled job returns it unchanged.

    Errors: 400 `validation_error`, 401 `invalid_api_key`, 404 `not_found`, 409
    `job_finished` (it completed or failed already), 429 `rate_limited`.
    """
    with db.connection() as conn:
        job = queries.cancel_job(conn, body.id, g.principal.user_id)
        if job is None:
            raise NotFound("No such job.")
        if job["status"] in ("completed", "failed"):
            raise JobFinished(
                f"This job has already {job['status']}.", details={"status": job["status"]}
            )
        deliveries = queries.list_deliveries(conn, job["id"])
    return {"data": job_summary(job, deliveries), "meta": {"request_id": g.request_id}}
