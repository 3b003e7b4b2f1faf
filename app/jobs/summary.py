"""The job summary: ``GET /v1/jobs/get``, the create and cancel responses and webhook bodies."""

from __future__ import annotations

from typing import Any


def job_summary(job: dict[str, Any], deliveries: list[dict[str, Any]] | None = None) -> dict:
    """JSON-ready summary of a ``public.jobs`` row.

    ``counts``: ``total``, ``done`` (items in a final state), ``succeeded``, ``failed``,
    ``cancelled``, ``pending``; ``progress``: ``done / total`` in percent (0-100, one decimal);
    credits in credits; times ISO 8601 (serialised by the caller). ``deliveries`` (webhook
    attempts) are included under ``webhook`` when given.
    """
    total = job["items_total"]
    done = job["items_succeeded"] + job["items_failed"] + job["items_cancelled"]
    summary: dict[str, Any] = {
        "id": str(job["id"]),
        "status": job["status"],
        "counts": {
            "total": total,
            "done": done,
            "succeeded": job["items_succeeded"],
            "failed": job["items_failed"],
            "cancelled": job["items_cancelled"],
            "pending": total - done,
        },
        "progress": round(100.0 * done / total, 1) if total else 100.0,
        "include": job.get("include") or ["profile"],
        "credits_charged": job["credits_charged"],
        "credits_refunded": job["credits_refunded"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "cancelled_at": job["cancelled_at"],
        "finished_at": job["finished_at"],
        "webhook": None,
    }
    if job["webhook_url"]:
        summary["webhook"] = {"url": job["webhook_url"]}
        if deliveries is not None:
            summary["webhook"]["deliveries"] = [
                {
                    "attempt": d["attempt"],
                    "status_code": d["status_code"],
                    "error": d["error"],
                    "duration_ms": d["duration_ms"],
                    "succeeded": d["succeeded"],
                    "at": d["created_at"],
                }
                for d in deliveries
            ]
    return summary
