"""The parts of a batch job item (``"include": ["profile", "posts"]``): finish an item once,
with the posts part looked up and each failed part refunded.

The profile part is fetched by ``app.jobs.tasks.process_item`` as before; :func:`finish` then
runs the posts part (if the job includes it) and records both in one ``finish_item``: the item
succeeded when any included part did, and the credits of every failed part (``profile_cost``,
``posts_cost``) go back in the item's one refund row. A posts part with no posts fails with
``no_posts``; a platform without a posts source with ``posts_not_available``. Freshly fetched
profile and posts are cached in the same round trip as ``finish_item`` (one pipeline).
"""

from __future__ import annotations

import json
from typing import Any

from app import posts as posts_service
from app import profiles
from app.errors import ApiError
from app.queries import jobs as queries
from app.queries import posts as posts_queries
from app.scraping.urls import identify

#: How many posts a job item's posts part returns (the default ``limit`` of the endpoint).
JOB_POSTS_LIMIT = 12


def _posts_part(
    rt: Any, url: str
) -> tuple[dict[str, Any] | None, tuple[str, str] | None, dict[str, Any] | None]:
    """(the posts answer, None, what to cache) or (None, (error code, message), None) for
    ``url``; what to cache is ``store_posts``'s arguments for freshly fetched posts, else None."""
    ref = identify(url)
    to_store = None
    try:
        with rt.pool.connection() as conn:
            hit = posts_queries.fresh_posts(
                conn, ref.platform, ref.handle, rt.config["POSTS_CACHE_TTL"]
            )
        if hit is not None:
            result = posts_service.PostsResult(hit["data"], hit["fetched_at"])
        else:
            result = posts_service.fetch(url, rt.fetch_settings)
            if not result.empty:
                to_store = {
                    "platform": ref.platform,
                    "handle": ref.handle,
                    "data": result.data,
                    "fetched_at": result.fetched_at,
                    "followers": result.data["followers"],
                    "avg_views": posts_service.growth_avg_views(ref.platform, result),
                }
    except ApiError as err:
        return None, (err.code, err.message), None
    if result.empty:
        return None, ("no_posts", "The creator has no posts to show."), None
    answer = posts_service.answer(ref.platform, ref.handle, result, JOB_POSTS_LIMIT)
    return json.loads(json.dumps(answer, default=str)), None, to_store


def finish(
    rt: Any,
    item: dict[str, Any],
    *,
    profile: dict[str, Any] | None = None,
    cached: bool | None = None,
    fetched: profiles.ProfileResult | None = None,
    error: tuple[str, str, dict[str, Any]] | None = None,
) -> str:
    """Finish ``item`` (a ``queries.get_item`` row) once, after its posts part when included.

    ``profile`` is the profile part's result (``cached``: from the cache; ``fetched``: the
    freshly fetched ``ProfileResult`` to cache) or ``error`` its ``(code, message, details)``.
    The caches are written and the item finished in one round trip. Returns ``succeeded`` or
    ``failed``.
    """
    include = item["include"]
    posts, posts_error, posts_to_store = (None, None, None)
    if "posts" in include:
        posts, posts_error, posts_to_store = _posts_part(rt, item["url"])
    profile_ok = "profile" in include and profile is not None
    refund = (0 if profile_ok or "profile" not in include else item["profile_cost"]) + (
        item["posts_cost"] if posts_error else 0
    )
    status = "succeeded" if profile_ok or posts is not None else "failed"
    if status == "failed" and error is None and posts_error is not None:
        error = (posts_error[0], posts_error[1], {"part": "posts"})
    code, message, details = error if status == "failed" and error else (None, None, None)
    with rt.pool.connection() as conn, conn.pipeline():  # every statement in one round trip
        if fetched is not None:
            profiles.store(conn, item["url"], fetched)
        if posts_to_store is not None:
            posts_queries.store_posts(conn, **posts_to_store)
        queries.finish_item(
            conn,
            item["id"],
            status,
            profile=profile if profile_ok else None,
            cached=cached if profile_ok else None,
            error_code=code,
            error_message=message,
            error_details=json.loads(json.dumps(details, default=str)) if code else None,
            posts=posts,
            posts_error_code=posts_error[0] if posts_error else None,
            posts_error_message=posts_error[1] if posts_error else None,
            refund=refund,
            fetch=False,
        )
    return status
