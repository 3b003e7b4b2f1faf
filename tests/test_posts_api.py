"""``GET /v1/creators/posts`` and ``GET /v1/creators/history`` end to end: the real database,
and a local TLS server answering for the real ``https://`` hosts with recorded responses
(tests/fixtures/posts/, tests/fixtures/sources/ and the shared creator pages)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from app import db as app_db
from app import profiles
from app.jobs import tasks
from app.queries import posts as posts_queries
from app.security import hash_api_key
from tests.conftest import (
    assert_error,
    balance_of,
    fresh_client,
    make_funded_key,
    usage_ledger,
)
from tests.fixture_server import FIXTURES as PAGES
from tests.test_jobs_item_sql import CountingConnection, psycopg_pool
from tests.tls_server import Reply, TlsServer, app_reaching, recorded

POSTS = Path(__file__).resolve().parent / "fixtures" / "posts"
HOSTS = ["public.api.bsky.app", "bsky.app", "www.tiktok.com", "mastodon.social"]
CAROL = "https://bsky.app/profile/carol.test"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
PROFILE = "/xrpc/app.bsky.actor.getProfile"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with TlsServer(HOSTS) as server:
        server.ca_path = server.write_ca(tmp_path_factory.mktemp("ca"))
        yield server


@pytest.fixture(scope="module")
def posts_app(database_url, tls):
    with app_reaching(tls, database_url) as flask_app:
        yield flask_app


@pytest.fixture
def client(posts_app, tls):
    tls.reset()
    return fresh_client(posts_app)


def route_carol(tls: TlsServer) -> None:
    tls.route(
        "public.api.bsky.app",
        FEED,
        Reply(200, (POSTS / "bluesky/getauthorfeed_carol_snapshot.json").read_bytes()),
    )
    tls.route("public.api.bsky.app", PROFILE, recorded("bluesky/getprofile_alice_snapshot.json"))


def get_posts(client, key: str, **params):
    headers = {"x-api-key": key, **params.pop("headers", {})}
    return client.get("/v1/creators/posts", query_string=params, headers=headers)


# --- posts --------------------------------------------------------------------------------------


def test_posts_cost_two_credits_and_carry_the_aggregates(client, tls, db):
    user_id, key = make_funded_key(db, 5)
    route_carol(tls)
    response = get_posts(client, key, url=CAROL)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    data, meta = body["data"], body["meta"]
    assert data["source"] == "bluesky_api" and len(data["posts"]) == 3
    assert [p["is_repost"] for p in data["posts"]] == [True, False, False]
    aggregates = data["aggregates"]
    assert aggregates["posts_sampled"] == 2 and aggregates["avg_likes"] == 1.0
    assert aggregates["followers"] == 2  # getProfile's exact followersCount
    assert aggregates["engagement_rate"] == pytest.approx(((0 + 0) / 2 + (2 + 0) / 2) / 2)
    assert aggregates["engagement_formula"] == "mean over posts of (likes + comments) / followers"
    assert (meta["credits_charged"], meta["credits_remaining"], meta["cached"]) == (2, 3, False)
    assert usage_ledger(db, user_id) == [("usage", -2)]
    lookup = db.execute(
        "select kind, status, credits_charged from public.creator_lookups where user_id = %s",
        (user_id,),
    ).fetchone()
    assert lookup == {"kind": "posts", "status": "succeeded", "credits_charged": 2}
    growth = db.execute(
        "select followers, avg_views from public.creator_growth_snapshots"
        " where platform = 'bluesky' and handle = 'carol.test'"
    ).fetchall()
    assert growth == [{"followers": 2, "avg_views": None}]


def test_limit_slices_the_posts_and_the_aggregates(client, tls, db):
    _, key = make_funded_key(db, 5)
    route_carol(tls)
    data = get_posts(client, key, url=CAROL, limit=2).get_json()["data"]
    assert len(data["posts"]) == 2 and data["aggregates"]["posts_sampled"] == 1
    assert get_posts(client, key, url=CAROL, limit=51).status_code == 400


def test_second_call_is_served_from_the_posts_cache(client, tls, db):
    user_id, key = make_funded_key(db, 10)
    route_carol(tls)
    get_posts(client, key, url=CAROL)
    requests_before = len(tls.seen)
    again = get_posts(client, key, url=CAROL).get_json()
    assert again["meta"]["cached"] is True and again["meta"]["credits_charged"] == 2
    assert len(tls.seen) == requests_before
    assert usage_ledger(db, user_id) == [("usage", -2), ("usage", -2)]
    fresh = get_posts(client, key, url=CAROL, max_age=0).get_json()
    assert fresh["meta"]["cached"] is False


def test_idempotency_key_replays_without_a_second_charge(client, tls, db):
    user_id, key = make_funded_key(db, 5)
    route_carol(tls)
    first = get_posts(client, key, url=CAROL, headers={"Idempotency-Key": "p-1"})
    second = get_posts(client, key, url=CAROL, headers={"Idempotency-Key": "p-1"})
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["data"] == first.get_json()["data"]
    assert usage_ledger(db, user_id) == [("usage", -2)]


def test_no_posts_is_refunded(client, tls, db):
    user_id, key = make_funded_key(db, 5)
    tls.route(
        "www.tiktok.com",
        "/@illojuan",
        Reply(200, (PAGES / "tiktok/illojuan.html").read_bytes(), "text/html"),
    )
    response = get_posts(client, key, url="https://www.tiktok.com/@illojuan")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["data"]["posts"] == [] and body["data"]["aggregates"]["posts_sampled"] == 0
    assert body["meta"]["credits_charged"] == 0 and body["meta"]["credits_remaining"] == 5
    assert usage_ledger(db, user_id) == [("usage", -2), ("refund", 2)]
    assert db.execute("select count(*) as n from public.creator_posts").fetchone()["n"] == 0


def test_a_refunded_empty_answer_is_replayed_for_its_idempotency_key(client, tls, db):
    user_id, key = make_funded_key(db, 5)
    tls.route(
        "www.tiktok.com",
        "/@illojuan",
        Reply(200, (PAGES / "tiktok/illojuan.html").read_bytes(), "text/html"),
    )
    headers = {"Idempotency-Key": "empty-1"}
    url = "https://www.tiktok.com/@illojuan"
    first = get_posts(client, key, url=url, headers=headers)
    second = get_posts(client, key, url=url, headers=headers)
    assert first.get_json()["meta"]["credits_charged"] == 0
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert len(tls.requests_to("www.tiktok.com")) == 1  # not fetched again
    assert usage_ledger(db, user_id) == [("usage", -2), ("refund", 2)]
    conflict = get_posts(client, key, url=url, limit=3, headers=headers)
    assert_error(conflict, 409, "idempotency_conflict")
    # The same for an empty history page.
    history = {"platform": "bluesky", "handle": "nobody.test"}
    answers = [
        client.get(
            "/v1/creators/history",
            query_string=history,
            headers={"x-api-key": key, "Idempotency-Key": "empty-2"},
        )
        for _ in range(2)
    ]
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert answers[1].get_json() == answers[0].get_json()
    assert usage_ledger(db, user_id) == [("usage", -2), ("refund", 2), ("usage", -1), ("refund", 1)]
    assert balance_of(db, user_id) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"url": "https://t.me/durov"},
        {"platform": "x", "handle": "jack"},  # no X_BEARER_TOKEN on this server
    ],
)
def test_platform_without_a_posts_source_is_404_and_not_charged(client, db, params):
    user_id, key = make_funded_key(db, 5)
    error = assert_error(get_posts(client, key, **params), 404, "posts_not_available")
    assert error["details"]["platform"] in ("telegram", "x")
    assert usage_ledger(db, user_id) == [] and balance_of(db, user_id) == 5


def test_upstream_failure_is_refunded(client, tls, db):
    user_id, key = make_funded_key(db, 5)
    # Hand-written: the AppView's XRPC error for an unknown actor.
    tls.route(
        "public.api.bsky.app",
        FEED,
        Reply(400, {"error": "InvalidRequest", "message": "Profile not found"}),
    )
    assert_error(get_posts(client, key, url=CAROL), 404, "creator_not_found")
    assert usage_ledger(db, user_id) == [("usage", -2), ("refund", 2)]
    status = db.execute("select status from public.creator_lookups").fetchone()["status"]
    assert status == "refunded"


def test_mastodon_posts_end_to_end(client, tls, db):
    _, key = make_funded_key(db, 5)
    account = json.loads(
        (Path(__file__).parent / "fixtures/sources/mastodon/account_gargron_local.json").read_text()
    )
    tls.route("mastodon.social", "/api/v1/accounts/lookup", Reply(200, account))
    tls.route(
        "mastodon.social",
        f"/api/v1/accounts/{account['id']}/statuses",
        Reply(200, (POSTS / "mastodon/statuses_gargron.json").read_bytes()),
    )
    data = get_posts(client, key, url="https://mastodon.social/@Gargron").get_json()["data"]
    assert data["posts"][0]["likes"] == 11
    assert data["aggregates"]["engagement_rate"] == pytest.approx(16 / account["followers_count"])


def test_an_orphaned_posts_charge_is_swept(posts_app, db):
    user_id, key = make_funded_key(db, 5)
    posts_queries.begin_lookup(
        db,
        key_hash=hash_api_key(key),
        request_id="req_orphan",
        kind="posts",
        platform="bluesky",
        handle="carol.test",
        max_age=0,
        cost=2,
    )
    db.execute(
        "update public.creator_lookups set created_at = now() - interval '1 hour'"
        " where request_id = 'req_orphan'"
    )
    assert profiles.sweep_orphans(db, posts_app.config) == 1
    assert usage_ledger(db, user_id) == [("usage", -2), ("refund", 2)]
    assert (
        posts_queries.settle_posts(
            db,
            request_id="req_orphan",
            platform="bluesky",
            handle="carol.test",
            data={"posts": [], "followers": None, "source": "bluesky_api"},
            fetched_at=datetime.now(UTC),
            followers=None,
            avg_views=None,
        )
        is False
    )  # a late success after the refund is not paid for


def test_platforms_listing_marks_posts_availability(client):
    listing = {e["platform"]: e for e in client.get("/v1/creators/platforms").get_json()["data"]}
    assert listing["bluesky"]["posts"]["available"] is True
    assert listing["bluesky"]["posts"]["sources"][0]["name"] == "bluesky_api"
    assert listing["x"]["posts"]["available"] is False
    assert listing["youtube"]["posts"]["available"] is True  # the videos tab needs no key
    assert listing["telegram"]["posts"] == {"available": False, "sources": []}


def test_openapi_documents_posts_and_history(client):
    doc = client.get("/v1/openapi.json").get_json()
    posts = doc["paths"]["/v1/creators/posts"]["get"]
    assert "posts_not_available" in json.dumps(posts["responses"])
    assert "/v1/creators/history" in doc["paths"]
    assert "PostsResponse" in doc["components"]["schemas"]
    params = {p["name"]: p for p in posts["parameters"]}
    # The posts cache has its own TTL (6 h), not the profile cache's 24 h.
    assert "POSTS_CACHE_TTL" in params["max_age"]["description"]
    assert "24 h" not in params["max_age"]["description"]
    history = doc["paths"]["/v1/creators/history"]["get"]
    since = next(p for p in history["parameters"] if p["name"] == "since")
    assert "UTC" in since["description"]
    point = doc["components"]["schemas"]["GrowthPoint"]["properties"]
    assert "platform_user_id" in point
    assert "platform_user_id" in doc["components"]["schemas"]["HistoryData"]["properties"]


# --- growth history ------------------------------------------------------------------------------


def test_profile_lookups_record_one_growth_point_per_hour(client, tls, db):
    _, key = make_funded_key(db, 5)
    tls.route("public.api.bsky.app", PROFILE, recorded("bluesky/getprofile_alice_snapshot.json"))
    for _ in range(2):
        response = client.get(
            "/v1/creators/profile",
            query_string={"url": "https://bsky.app/profile/alice.test"},
            headers={"x-api-key": key},
        )
        assert response.status_code == 200, response.get_json()
    rows = db.execute(
        "select followers, following, posts from public.creator_growth_snapshots"
        " where platform = 'bluesky'"
    ).fetchall()
    assert rows == [{"followers": 2, "following": 3, "posts": 4}]
    tracked = db.execute(
        "select snapshots, followers, lookups_30d from admin.tracked_creators"
    ).fetchone()
    assert tracked == {"snapshots": 1, "followers": 2, "lookups_30d": 2}


def seed_history(db, days: int, handle: str = "carol.test") -> datetime:
    """One growth point a day for ``days`` days ending one hour ago: followers 1000 + 10/day."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    for day in range(days):
        posts_queries.record_growth(
            db,
            platform="bluesky",
            handle=handle,
            fetched_at=end - timedelta(days=days - 1 - day),
            followers=1000 + 10 * day,
        )
    return end


def test_history_series_and_30_day_change(client, db):
    user_id, key = make_funded_key(db, 5)
    seed_history(db, 31)  # days 0..30: 1000 .. 1300
    response = client.get(
        "/v1/creators/history", query_string={"url": CAROL}, headers={"x-api-key": key}
    )
    assert response.status_code == 200, response.get_json()
    data, meta = response.get_json()["data"], response.get_json()["meta"]
    assert len(data["series"]) == 31 and data["series"][0]["followers"] == 1000
    assert data["followers_change_30d"] == 300  # 1300 now, 1000 thirty days before
    assert data["growth_rate_30d"] == pytest.approx(0.3)
    assert meta["credits_charged"] == 1 and meta["has_more"] is False
    assert usage_ledger(db, user_id) == [("usage", -1)]


def test_growth_points_keep_the_platform_user_id(client, tls, db):
    _, key = make_funded_key(db, 10)
    headers = {"x-api-key": key}
    tls.route("public.api.bsky.app", PROFILE, recorded("bluesky/getprofile_alice_snapshot.json"))
    alice = "https://bsky.app/profile/alice.test"
    profile = client.get("/v1/creators/profile", query_string={"url": alice}, headers=headers)
    assert profile.status_code == 200, profile.get_json()
    route_carol(tls)  # carol's feed; getProfile answers with the recorded DID "user(0)"
    assert get_posts(client, key, url=CAROL).status_code == 200
    rows = db.execute(
        "select handle, platform_user_id from public.creator_growth_snapshots"
        " where platform = 'bluesky' order by handle"
    ).fetchall()
    assert [(r["handle"], r["platform_user_id"]) for r in rows] == [
        ("alice.test", "user(0)"),  # from the profile snapshot (trigger)
        ("carol.test", "user(0)"),  # from the posts lookup (store_creator_posts)
    ]
    # Within one hour a later known id wins and an unknown one never erases it.
    now = datetime.now(UTC)
    posts_queries.record_growth(
        db,
        platform="bluesky",
        handle="alice.test",
        fetched_at=now,
        followers=3,
        platform_user_id="did:plc:renamed",
    )
    posts_queries.record_growth(
        db, platform="bluesky", handle="alice.test", fetched_at=now, followers=4
    )
    body = client.get(
        "/v1/creators/history", query_string={"url": alice}, headers=headers
    ).get_json()
    assert body["data"]["platform_user_id"] == "did:plc:renamed"
    assert [p["platform_user_id"] for p in body["data"]["series"]] == ["did:plc:renamed"]
    assert body["data"]["series"][0]["followers"] == 4


def test_history_without_a_known_id_answers_null(client, db):
    _, key = make_funded_key(db, 5)
    seed_history(db, 2)
    data = client.get(
        "/v1/creators/history", query_string={"url": CAROL}, headers={"x-api-key": key}
    ).get_json()["data"]
    assert data["platform_user_id"] is None
    assert [p["platform_user_id"] for p in data["series"]] == [None, None]


def test_history_too_short_has_null_change(client, db):
    _, key = make_funded_key(db, 5)
    seed_history(db, 10)
    data = client.get(
        "/v1/creators/history", query_string={"url": CAROL}, headers={"x-api-key": key}
    ).get_json()["data"]
    assert data["followers_change_30d"] is None and data["growth_rate_30d"] is None


def test_history_pages_with_a_cursor_and_filters(client, db):
    _, key = make_funded_key(db, 10)
    end = seed_history(db, 5)
    headers = {"x-api-key": key}
    first = client.get(
        "/v1/creators/history", query_string={"url": CAROL, "limit": 3}, headers=headers
    ).get_json()
    assert len(first["data"]["series"]) == 3 and first["meta"]["has_more"] is True
    second = client.get(
        "/v1/creators/history",
        query_string={"url": CAROL, "limit": 3, "cursor": first["meta"]["next_cursor"]},
        headers=headers,
    ).get_json()
    assert [p["followers"] for p in second["data"]["series"]] == [1030, 1040]
    assert second["meta"]["next_cursor"] is None
    since = (end - timedelta(days=1)).isoformat()
    windowed = client.get(
        "/v1/creators/history", query_string={"url": CAROL, "since": since}, headers=headers
    ).get_json()
    assert [p["followers"] for p in windowed["data"]["series"]] == [1030, 1040]


def test_empty_history_is_refunded(client, db):
    user_id, key = make_funded_key(db, 5)
    body = client.get(
        "/v1/creators/history",
        query_string={"platform": "bluesky", "handle": "nobody.test"},
        headers={"x-api-key": key},
    ).get_json()
    assert body["data"]["series"] == [] and body["meta"]["credits_charged"] == 0
    assert usage_ledger(db, user_id) == [("usage", -1), ("refund", 1)]
    assert balance_of(db, user_id) == 5


def test_bad_history_input_changes_nothing(client, db):
    user_id, key = make_funded_key(db, 5)
    headers = {"x-api-key": key}
    bad_cursor = client.get(
        "/v1/creators/history", query_string={"url": CAROL, "cursor": "@@"}, headers=headers
    )
    assert_error(bad_cursor, 400, "validation_error")
    backwards = client.get(
        "/v1/creators/history",
        query_string={"url": CAROL, "since": "2026-02-01T00:00:00Z", "until": "2026-01-01"},
        headers=headers,
    )
    assert_error(backwards, 400, "validation_error")
    assert usage_ledger(db, user_id) == []


def test_growth_storage_is_bounded(db):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # 3 points a day for the last 40 days, every hour deduplicated, then one more point.
    for day in range(40):
        for hour in (1, 2, 2):
            posts_queries.record_growth(
                db,
                platform="bluesky",
                handle="bounded.test",
                fetched_at=now - timedelta(days=day, hours=hour),
                followers=day,
            )
    posts_queries.record_growth(
        db, platform="bluesky", handle="bounded.test", fetched_at=now, followers=0
    )
    rows = db.execute(
        "select bucket from public.creator_growth_snapshots where handle = 'bounded.test'"
        " order by bucket"
    ).fetchall()
    old = [r["bucket"] for r in rows if r["bucket"] < now - timedelta(days=30)]
    recent = [r["bucket"] for r in rows if r["bucket"] >= now - timedelta(days=30)]
    assert len({b.date() for b in old}) == len(old)  # at most one per UTC day after 30 days
    assert len(recent) == len(set(recent))  # at most one per hour
    posts_queries.record_growth(
        db,
        platform="bluesky",
        handle="bounded.test",
        fetched_at=now - timedelta(days=800),
        followers=1,
    )
    oldest = db.execute(
        "select min(bucket) as b from public.creator_growth_snapshots where handle = 'bounded.test'"
    ).fetchone()["b"]
    assert oldest > now - timedelta(days=731)


# --- batch jobs with include --------------------------------------------------------------------


def run_items(posts_app, database_url, db, job_id: str) -> list[str]:
    items = db.execute(
        "select id, task_id from public.job_items where job_id = %s order by id", (job_id,)
    ).fetchall()
    kwargs = app_db.connection_kwargs(database_url)
    with ConnectionPool(database_url, kwargs=kwargs, min_size=1, max_size=2, open=True) as pool:
        runtime = tasks.configure(posts_app.config, pool)
        return [tasks.process_item(runtime, i["id"], i["task_id"]) for i in items]


def test_batch_job_with_profile_and_posts_is_priced_and_refunded_per_part(
    posts_app, client, tls, db, database_url
):
    user_id, key = make_funded_key(db, 10)
    route_carol(tls)
    tls.route(
        "www.tiktok.com",
        "/@illojuan",
        Reply(200, (PAGES / "tiktok/illojuan.html").read_bytes(), "text/html"),
    )
    created = client.post(
        "/v1/jobs/create",
        json={
            "urls": [CAROL, "https://www.tiktok.com/@illojuan"],
            "include": ["profile", "posts"],
        },
        headers={"x-api-key": key},
    )
    assert created.status_code == 202, created.get_json()
    job = created.get_json()["data"]
    assert job["include"] == ["profile", "posts"]
    assert job["credits_charged"] == 2 * (1 + 2)
    assert run_items(posts_app, database_url, db, job["id"]) == ["succeeded", "succeeded"]
    results = client.get(f"/v1/jobs/results?id={job['id']}", headers={"x-api-key": key}).get_json()[
        "data"
    ]
    carol, illojuan = results
    assert carol["profile"]["platform"] == "bluesky"
    assert carol["posts"]["aggregates"]["posts_sampled"] == 2 and carol["posts_error"] is None
    assert illojuan["profile"]["followers"] == 783427
    assert illojuan["posts"] is None and illojuan["posts_error"]["code"] == "no_posts"
    # 6 reserved, the TikTok posts part (2) refunded: 4 paid for 2 profiles and 1 posts part.
    assert usage_ledger(db, user_id) == [("usage", -6), ("refund", 2)]
    summary = client.get(f"/v1/jobs/get?id={job['id']}", headers={"x-api-key": key}).get_json()
    assert summary["data"]["credits_refunded"] == 2 and summary["data"]["status"] == "completed"
    points = db.execute(
        "select count(*) as n from public.creator_growth_snapshots where handle = 'carol.test'"
    ).fetchone()
    assert points["n"] == 1  # the profile and the posts of one hour are one growth point


def test_batch_job_with_posts_only(posts_app, client, tls, db, database_url):
    user_id, key = make_funded_key(db, 10)
    route_carol(tls)
    created = client.post(
        "/v1/jobs/create",
        json={"urls": [CAROL, "https://t.me/durov"], "include": ["posts"]},
        headers={"x-api-key": key},
    ).get_json()["data"]
    assert created["credits_charged"] == 4
    assert run_items(posts_app, database_url, db, created["id"]) == ["succeeded", "failed"]
    results = client.get(
        f"/v1/jobs/results?id={created['id']}", headers={"x-api-key": key}
    ).get_json()["data"]
    assert results[0]["profile"] is None and len(results[0]["posts"]["posts"]) == 3
    assert results[1]["error"]["code"] == "posts_not_available"
    assert usage_ledger(db, user_id) == [("usage", -4), ("refund", 2)]
    assert not any(s.host == "t.me" for s in tls.seen)


def test_batch_job_include_is_validated(client, db):
    user_id, key = make_funded_key(db, 10)
    response = client.post(
        "/v1/jobs/create",
        json={"urls": [CAROL], "include": ["comments"]},
        headers={"x-api-key": key},
    )
    assert_error(response, 400, "validation_error")
    assert usage_ledger(db, user_id) == []


def test_cancelled_item_refunds_every_part(client, db):
    user_id, key = make_funded_key(db, 10)
    created = client.post(
        "/v1/jobs/create",
        json={"urls": [CAROL], "include": ["profile", "posts"]},
        headers={"x-api-key": key},
    ).get_json()["data"]
    client.post("/v1/jobs/cancel", json={"id": created["id"]}, headers={"x-api-key": key})
    assert usage_ledger(db, user_id) == [("usage", -3), ("refund", 3)]


def test_batch_item_with_posts_stores_both_parts_and_finishes_in_one_pipeline(
    posts_app, client, tls, db, database_url
):
    """Per item with both parts: get_item, start, the posts cache read, one politeness call per
    request to an API host, then the profile store, the posts store and finish_job_item, sent
    together (one pipeline) as the last three statements."""
    _, key = make_funded_key(db, 10)
    route_carol(tls)
    created = client.post(
        "/v1/jobs/create",
        json={"urls": [CAROL], "include": ["profile", "posts"]},
        headers={"x-api-key": key},
    ).get_json()["data"]
    (item,) = db.execute(
        "select id, task_id from public.job_items where job_id = %s", (created["id"],)
    ).fetchall()
    pool = psycopg_pool(database_url, posts_app.config)
    try:
        runtime = tasks.configure(posts_app.config, pool)
        CountingConnection.statements.clear()
        assert tasks.process_item(runtime, item["id"], item["task_id"]) == "succeeded"
        sent = list(CountingConnection.statements)
    finally:
        pool.close()
    api_requests = [s for s in tls.seen if s.host == "public.api.bsky.app"]
    gate = [s for s in sent if "take_host_slot" in s]
    assert api_requests and len(gate) == len(api_requests)
    assert not any("host_politeness" in s for s in sent)  # politeness only through the function
    assert "private.start_job_item" in sent[1]
    assert "store_creator_profile" in sent[-3] and "store_creator_posts" in sent[-2]
    assert "private.finish_job_item" in sent[-1]
    assert len(sent) == 3 + len(gate) + 3, sent
