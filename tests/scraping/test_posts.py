"""Posts sources: pure parsers on recorded responses, hand-computed aggregates, and the posts
chain over real TLS under the real host names (tests/tls_server.py).

Recorded files are in tests/fixtures/posts/ (provenance in its README) and the shared creator
pages; hand-written bodies are error cases only, in the API's own error format, and say so.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.profiles import fetch_settings
from app.scraping.fetch import CreatorNotFound, FetchSettings, UpstreamBlocked, UpstreamError
from app.scraping.posts import (
    POSTS_CHAINS,
    PostsNotAvailable,
    bluesky,
    instagram,
    lookup_posts,
    mastodon,
    posts_catalogue,
    tiktok,
    twitch,
    x,
    youtube,
    youtube_page,
)
from app.scraping.posts.aggregates import FORMULAS, aggregate, posts_per_week
from app.scraping.posts.base import Post, PostsPage, PostsSource, run_posts_chain
from app.scraping.sources import lookup, target_of, twitch_helix, youtube_data_api
from app.scraping.sources.base import Credentials, Kind, SourceFailed
from tests.fixture_server import FIXTURES as PAGES
from tests.tls_server import FIXTURES as SOURCE_FIXTURES
from tests.tls_server import Reply, TlsServer

POSTS = Path(__file__).resolve().parents[1] / "fixtures" / "posts"
HOSTS = [
    "public.api.bsky.app",
    "www.googleapis.com",
    "www.youtube.com",
    "api.x.com",
    "id.twitch.tv",
    "api.twitch.tv",
    "i.instagram.com",
    "www.instagram.com",
    "www.tiktok.com",
    "mastodon.social",
]


def load(relative: str):
    return json.loads((POSTS / relative).read_text())


def source_file(relative: str) -> bytes:
    return (SOURCE_FIXTURES / relative).read_bytes()


def page_html(relative: str) -> str:
    return (PAGES / relative).read_text()


def instagram_user() -> dict:
    html = page_html("instagram/aaronpk-2019.html")
    start = html.index("window._sharedData = ") + len("window._sharedData = ")
    shared = json.loads(html[start : html.index(";</script>", start)])
    return shared["entry_data"]["ProfilePage"][0]["graphql"]["user"]


# --- parsers on recorded responses -------------------------------------------------------------


def test_bluesky_feed_marks_reposts_and_reads_counts():
    posts = bluesky.parse_feed(load("bluesky/getauthorfeed_carol_snapshot.json"))
    assert [(p.caption, p.is_repost) for p in posts] == [
        ("@alice.bluesky.xyz is the best", True),
        ("of course", False),
        ("hi im carol", False),
    ]
    carol = posts[2]
    assert (carol.likes, carol.comments, carol.shares, carol.views) == (2, 0, 0, None)
    assert carol.type == "carousel"  # recordWithMedia holding two images
    assert carol.thumbnail_url.startswith("https://bsky.public.url/img/feed_thumbnail/")
    assert carol.published_at == datetime(1970, 1, 1, tzinfo=UTC)
    # The suite replaced the at:// URIs by placeholders, so no post URL can be built:
    assert carol.url is None
    assert bluesky.post_url("at://did:plc:abc/app.bsky.feed.post/3k2a", "carol.test") == (
        "https://bsky.app/profile/carol.test/post/3k2a"
    )


def test_bluesky_aggregates_skip_the_repost_and_have_no_views():
    posts = bluesky.parse_feed(load("bluesky/getauthorfeed_carol_snapshot.json"))
    result = aggregate("bluesky", posts, followers=None)
    assert result["posts_sampled"] == 2
    assert result["avg_likes"] == 1.0  # (0 + 2) / 2; the repost's counts are not carol's
    assert result["avg_comments"] == 0.0
    assert result["avg_views"] is None and result["median_views"] is None
    # No follower count and no views: no rate rather than a division by zero.
    assert result["engagement_rate"] is None
    assert result["posts_per_week"] is None  # both posts at the same instant


def test_mastodon_statuses():
    (post,) = mastodon.parse_statuses(load("mastodon/statuses_gargron.json"))
    assert post.id == "103270115826048975"
    assert post.url == "https://mastodon.social/@Gargron/103270115826048975"
    assert (post.likes, post.comments, post.shares, post.views) == (11, 5, 6, None)
    assert post.type == "text"
    assert post.caption.startswith('"I lost my inheritance with one wrong digit on my sort code"')
    assert "<" not in post.caption
    result = aggregate("mastodon", [post], followers=322930)
    assert result["engagement_rate"] == pytest.approx((11 + 5) / 322930)
    assert result["engagement_formula"] == FORMULAS["followers"]


def test_mastodon_boost_is_a_repost_with_the_boosted_counts():
    (status,) = load("mastodon/statuses_gargron.json")
    boost = {**status, "id": "1", "reblog": status, "favourites_count": 0}
    post = mastodon.parse_status(boost)
    assert post.is_repost and post.likes == 11 and post.id == "1"


def test_mastodon_body_not_a_list_is_broken():
    with pytest.raises(SourceFailed) as caught:
        mastodon.parse_statuses({"error": "Record not found"})
    assert caught.value.kind is Kind.BROKEN


def test_youtube_playlist_and_statistics():
    posts = youtube.parse_playlist(load("youtube/playlist_items_google_developers.json"))
    assert len(posts) == 10
    first = posts[0]
    assert first.id == "CvTApw9X8aA"
    assert first.url == "https://www.youtube.com/watch?v=CvTApw9X8aA"
    assert first.title == "Welcome from Google Developers - Pittsburgh ML Summit \u201819"
    assert first.published_at == datetime(2019, 11, 21, 22, 17, 43, tzinfo=UTC)
    assert first.thumbnail_url == "https://i.ytimg.com/vi/CvTApw9X8aA/maxresdefault.jpg"
    assert first.views is None  # until videos.list answers
    video = Post(id="D-lhorsDlUQ", type="video")
    merged = youtube.add_statistics([*posts, video], load("youtube/videos_list_d_lhorsdluq.json"))
    assert merged[:10] == posts  # not in the answer: metrics stay null
    stats = merged[10]
    assert (stats.views, stats.likes, stats.comments, stats.shares) == (7920, 190, 32, None)
    assert stats.duration_s == 21 * 60 + 7 and stats.type == "video"
    result = aggregate("youtube", merged, followers=1_920_000)
    assert result["posts_sampled"] == 11
    assert result["avg_views"] == 7920 and result["median_views"] == 7920
    assert result["engagement_formula"] == FORMULAS["views"]
    assert result["engagement_rate"] == pytest.approx((190 + 32) / 7920)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("PT21M7S", 1267), ("PT1H", 3600), ("P1DT2S", 86402), ("PT45S", 45), ("P", None), ("x", None)],
)
def test_iso_durations(value, seconds):
    assert youtube.iso_duration(value) == seconds


def test_youtube_short_live_and_stream_types():
    body = load("youtube/videos_list_d_lhorsdluq.json")
    video = body["items"][0]
    short = {**video, "contentDetails": {**video["contentDetails"], "duration": "PT59S"}}
    live = {**video, "snippet": {**video["snippet"], "liveBroadcastContent": "live"}}
    past = {**video, "liveStreamingDetails": {"actualStartTime": "2019-03-21T20:00:00Z"}}
    for item, kind in ((short, "short"), (live, "live"), (past, "stream")):
        answer = {**body, "items": [item]}
        (post,) = youtube.add_statistics([Post(id="D-lhorsDlUQ", type="video")], answer)
        assert post.type == kind


def test_youtube_uploads_playlist_from_channel_id():
    body = json.loads(source_file("youtube/channels_list_google_developers.json"))
    assert youtube.uploads_playlist(body) == "UU_x5XG1OV2P6uZZ5FSM9Ttw"
    with pytest.raises(SourceFailed) as caught:
        youtube.uploads_playlist({**body, "items": []})
    assert caught.value.kind is Kind.NOT_FOUND


def test_x_tweets_and_hand_computed_aggregates():
    posts = x.parse_tweets(load("x/users_tweets_twitterdev.json"), "TwitterDev")
    assert [p.likes for p in posts] == [37, 58, 9, 8, 74]
    assert [p.comments for p in posts] == [2, 7, 2, 2, 9]
    assert [p.shares for p in posts] == [11, 22, 0, 1, 19]  # retweets + quotes
    assert all(p.views is None for p in posts)  # no impression_count in this answer
    assert posts[0].url == "https://x.com/TwitterDev/status/1364275610764201984"
    followers = json.loads(source_file("x/users_by_username_twitterdev.json"))["data"][
        "public_metrics"
    ]["followers_count"]
    assert followers == 514020
    result = aggregate("x", posts, followers)
    assert result["avg_likes"] == pytest.approx(186 / 5)
    assert result["avg_comments"] == pytest.approx(22 / 5)
    assert result["engagement_rate"] == pytest.approx((39 + 65 + 11 + 10 + 83) / 5 / 514020)
    # 5 tweets from 2021-02-18T16:30:25 to 2021-02-23T18:07:07: 4 intervals in 437,802 s.
    assert result["posts_per_week"] == pytest.approx(4 / (437802 / 604800))
    assert result["last_post_at"] == datetime(2021, 2, 23, 18, 7, 7, tzinfo=UTC)


def test_twitch_videos():
    (video,) = twitch.parse_videos(load("twitch/videos_dyrus.json"))
    assert (video.id, video.views, video.duration_s, video.type) == ("224404190", 4924, 50, "video")
    assert video.likes is None and video.comments is None
    assert video.thumbnail_url.endswith("thumb224404190-640x360.jpg")
    result = aggregate("twitch", [video], followers=None)
    assert result["avg_views"] == 4924 and result["engagement_rate"] is None
    assert twitch.duration("3h8m33s") == 11313 and twitch.duration("") is None


def test_instagram_recent_media_from_the_profile_json():
    page = instagram.parse_web_profile_info({"data": {"user": instagram_user()}})
    assert page.followers == 484 and len(page.posts) == 12
    first = page.posts[0]
    assert first.url == "https://www.instagram.com/p/BsbS2MShffq/"
    assert (first.type, first.likes, first.comments, first.caption) == (
        "image",
        12,
        3,
        "#WhiteboardDesk",
    )
    assert [p.type for p in page.posts].count("video") == 2
    assert [p.views for p in page.posts if p.type == "video"] == [161, 242]
    result = aggregate("instagram", page.posts, page.followers)
    assert result["avg_likes"] == pytest.approx(270 / 12)
    assert result["avg_comments"] == pytest.approx(18 / 12)
    assert result["avg_views"] == pytest.approx(201.5)
    assert result["engagement_rate"] == pytest.approx((270 + 18) / 12 / 484)


def test_instagram_page_source_reads_the_same_user_object():
    page = instagram.parse_page(page_html("instagram/aaronpk-2019.html"))
    assert page.source == "page" and len(page.posts) == 12 and page.followers == 484
    with pytest.raises(SourceFailed) as caught:
        instagram.parse_page(page_html("instagram/pluto__travel-2024.html"))
    assert caught.value.kind is Kind.REFUSED  # the 2024 page no longer embeds the media


def test_instagram_unknown_user_is_not_found():
    with pytest.raises(SourceFailed) as caught:
        instagram.parse_web_profile_info({"data": {"user": None}, "status": "ok"})
    assert caught.value.kind is Kind.NOT_FOUND


def test_tiktok_page_has_an_empty_item_list_and_the_exact_follower_count():
    page = tiktok.parse_page(page_html("tiktok/illojuan.html"), "illojuan")
    assert page.posts == [] and page.followers == 783427


def test_tiktok_2023_page_items_from_sigi_state():
    """A real 2023 profile page (SIGI_STATE, recorded by meedan/pender: see
    tests/fixtures/sources/README.md) whose ItemModule carries 18 videos."""
    recorded = POSTS.parent / "sources" / "tiktok" / "huxleythepandapuppy-2023-sigi.html"
    page = tiktok.parse_page(recorded.read_text(encoding="utf-8"), "huxleythepandapuppy")
    assert page.followers == 6_200_000
    assert len(page.posts) == 18
    first = page.posts[0]
    assert first.id == "7133763724367662378"
    assert first.url == "https://www.tiktok.com/@huxleythepandapuppy/video/7133763724367662378"
    assert first.published_at == datetime(2022, 8, 20, 1, 26, 41, tzinfo=UTC)
    assert first.type == "video"
    assert first.caption.startswith("Huxley is the one with the \N{PANDA FACE} face #pandapuppy")
    assert (first.views, first.likes, first.comments, first.shares) == (52100, 6724, 58, 12)
    assert first.duration_s == 6
    assert first.thumbnail_url.startswith("https://p16-sign.tiktokcdn-us.com/")


# --- aggregates, hand-computed ------------------------------------------------------------------


def _post(i: int, **kw) -> Post:
    return Post(id=str(i), type="video", **kw)


def test_nulls_are_skipped_never_zero():
    day = datetime(2026, 1, 1, tzinfo=UTC)
    posts = [
        _post(1, views=100, likes=10, comments=None, published_at=day),
        _post(2, views=None, likes=4, comments=2, published_at=day - timedelta(days=7)),
        _post(3, views=300, likes=20, comments=10, published_at=day - timedelta(days=14)),
        _post(4, views=1000, likes=1000, comments=1000, is_repost=True, published_at=day),
    ]
    result = aggregate("instagram", posts, followers=1000)
    assert result["posts_sampled"] == 3
    assert result["avg_views"] == 200 and result["median_views"] == 200  # (100 + 300) / 2
    assert result["avg_likes"] == pytest.approx(34 / 3)
    assert result["avg_comments"] == 6  # (2 + 10) / 2: post 1 shows no comments
    # Only posts showing likes and comments: (6/1000 + 30/1000) / 2.
    assert result["engagement_rate"] == pytest.approx(0.018)
    assert result["posts_per_week"] == pytest.approx(1.0)  # 2 intervals in 2 weeks
    assert result["last_post_at"] == day
    by_views = aggregate("instagram", posts, followers=None)
    assert by_views["engagement_formula"] == FORMULAS["views"]
    assert by_views["engagement_rate"] == pytest.approx(30 / 300)  # post 2 has no views


def test_nothing_to_average_is_null():
    result = aggregate("x", [], followers=0)
    assert result["posts_sampled"] == 0
    assert all(
        result[k] is None
        for k in ("avg_views", "median_views", "avg_likes", "avg_comments", "engagement_rate")
    )
    assert result["posts_per_week"] is None and result["last_post_at"] is None
    zero_views = [_post(1, views=0, likes=0, comments=0)]
    assert aggregate("youtube", zero_views, None)["engagement_rate"] is None
    assert posts_per_week([_post(1, published_at=datetime(2026, 1, 1, tzinfo=UTC))]) is None


def test_median_of_an_even_sample():
    posts = [_post(i, views=v) for i, v in enumerate([1, 2, 10, 1000])]
    result = aggregate("tiktok", posts, None)
    assert result["median_views"] == 6 and result["avg_views"] == pytest.approx(253.25)
    assert not math.isnan(result["avg_views"])


# --- the chain over TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with TlsServer(HOSTS) as server:
        server.ca_path = server.write_ca(tmp_path_factory.mktemp("ca"))
        yield server


@pytest.fixture
def server(tls):
    tls.reset()
    youtube_data_api.PAUSES.clear()
    twitch_helix.TOKENS.clear()
    yield tls
    youtube_data_api.PAUSES.clear()
    twitch_helix.TOKENS.clear()


def settings_for(server: TlsServer, **credentials):
    config = {
        "FETCH_RESOLVER": server.resolver,
        "FETCH_CA_BUNDLE": server.ca_path,
        "FETCH_CONNECT_TIMEOUT": 1.0,
        "FETCH_READ_TIMEOUT": 1.0,
        "FETCH_DEADLINE": 5.0,
        "FETCH_MAX_BYTES": 5_000_000,
        "FETCH_MAX_REDIRECTS": 3,
        "FETCH_RETRIES": 1,
        "FETCH_ALLOW_LOOPBACK": True,
        **{name.upper(): value for name, value in credentials.items()},
    }
    return dataclasses.replace(fetch_settings(config), backoff=0.05)


def route_bluesky(server: TlsServer) -> None:
    server.route(
        "public.api.bsky.app",
        "/xrpc/app.bsky.feed.getAuthorFeed",
        Reply(200, (POSTS / "bluesky/getauthorfeed_carol_snapshot.json").read_bytes()),
    )
    server.route(
        "public.api.bsky.app",
        "/xrpc/app.bsky.actor.getProfile",
        Reply(200, source_file("bluesky/getprofile_alice_snapshot.json")),
    )


def test_bluesky_chain_reads_feed_and_followers(server):
    route_bluesky(server)
    page = lookup_posts("https://bsky.app/profile/carol.test", settings_for(server), 12)
    assert page.source == "bluesky_api" and len(page.posts) == 3
    profile = json.loads(source_file("bluesky/getprofile_alice_snapshot.json"))
    assert page.followers == profile["followersCount"]
    assert page.platform_user_id == profile["did"]
    (feed,) = server.requests_to("public.api.bsky.app", "/xrpc/app.bsky.feed.getAuthorFeed")
    assert feed.query == {"actor": ["carol.test"], "limit": ["12"], "filter": ["posts_no_replies"]}


def test_youtube_chain_uses_the_key_in_a_header(server):
    api = "www.googleapis.com"
    server.route(
        api,
        "/youtube/v3/channels",
        Reply(200, source_file("youtube/channels_list_google_developers.json")),
    )
    server.route(
        api,
        "/youtube/v3/playlistItems",
        Reply(200, (POSTS / "youtube/playlist_items_google_developers.json").read_bytes()),
    )
    server.route(
        api,
        "/youtube/v3/videos",
        Reply(200, (POSTS / "youtube/videos_list_d_lhorsdluq.json").read_bytes()),
    )
    settings = settings_for(server, youtube_api_key="AIza-test-key")
    page = lookup_posts("https://www.youtube.com/@GoogleDevelopers", settings, 10)
    assert len(page.posts) == 10 and page.followers is None
    assert page.platform_user_id == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    (playlist,) = server.requests_to(api, "/youtube/v3/playlistItems")
    assert playlist.query["playlistId"] == ["UU_x5XG1OV2P6uZZ5FSM9Ttw"]
    assert playlist.headers["x-goog-api-key"] == "AIza-test-key"
    assert all("AIza" not in json.dumps(s.query) for s in server.seen)
    (videos,) = server.requests_to(api, "/youtube/v3/videos")
    assert set(videos.query["id"][0].split(",")) == {p.id for p in page.posts}
    dates = [p.published_at for p in page.posts]
    assert dates == sorted(dates, reverse=True)  # newest first
    assert videos.query["part"] == ["snippet,contentDetails,statistics,liveStreamingDetails"]


def test_youtube_without_a_key_reads_the_videos_tab_in_english(server):
    server.route(
        "www.youtube.com",
        "/@ProgrammingKnowledge/videos",
        Reply(200, (PAGES / "youtube/programmingknowledge-2021.html").read_bytes(), "text/html"),
    )
    page = lookup_posts("https://www.youtube.com/@ProgrammingKnowledge", settings_for(server), 5)
    assert page.source == "page" and len(page.posts) == 5
    (seen,) = server.requests_to("www.youtube.com")
    assert seen.query["hl"] == ["en"] and "SOCS=" in seen.headers["cookie"]


def test_youtube_quota_exceeded_pauses_the_api_and_falls_through_to_the_tab(server):
    # Hand-written: Google's documented 403 quotaExceeded body.
    quota = {
        "error": {"code": 403, "errors": [{"reason": "quotaExceeded", "domain": "youtube.quota"}]}
    }
    server.route("www.googleapis.com", "/youtube/v3/channels", Reply(403, quota))
    # Hand-written: a consent interstitial with no ytInitialData.
    server.route(
        "www.youtube.com",
        "/@x/videos",
        Reply(200, b"<html>Before you continue</html>", "text/html"),
    )
    settings = settings_for(server, youtube_api_key="k")
    with pytest.raises(UpstreamBlocked) as caught:
        lookup_posts("https://www.youtube.com/@x", settings, 5)
    assert [s["reason"] for s in caught.value.details["sources"]] == [
        "quota_exceeded",
        "empty_page",
    ]
    assert youtube_data_api.PAUSES.paused_for("youtube_data_api") > 0
    # Paused: the next lookup does not ask the API again.
    with pytest.raises(UpstreamBlocked):
        lookup_posts("https://www.youtube.com/@x", settings, 5)
    assert len(server.requests_to("www.googleapis.com")) == 1


def test_youtube_videos_tab_parser():
    page = youtube_page.parse_page(page_html("youtube/programmingknowledge-2021.html"))
    first = page.posts[0]
    assert (first.id, first.views, first.duration_s, first.type) == (
        "t_xLpJo_35k",
        1639,
        27193,
        "video",
    )
    assert first.title.startswith("Adobe After Effects (Basic Course for Beginners)")
    assert first.published_at is None  # the tab shows only "2 days ago"
    assert len({p.id for p in page.posts}) == len(page.posts)
    spanish = youtube_page.parse_page(page_html("youtube/onemedia-2024.html"))
    assert spanish.posts[0].views == 127696  # "127.696 visualizaciones"
    result = aggregate("youtube", page.posts, None)
    assert result["avg_views"] is not None and result["engagement_rate"] is None
    with pytest.raises(SourceFailed) as caught:
        youtube_page.parse_page("<html>consent</html>")
    assert caught.value.kind is Kind.REFUSED


@pytest.mark.parametrize(
    ("url", "tab"),
    [
        ("https://www.youtube.com/@mkbhd", "https://www.youtube.com/@mkbhd/videos"),
        ("https://youtube.com/channel/UCabc", "https://www.youtube.com/channel/UCabc/videos"),
        ("https://www.youtube.com/watch?v=x", None),
    ],
)
def test_youtube_videos_tab_url(url, tab):
    assert youtube_page.videos_url(target_of(url)) == tab


def test_instagram_login_wall_falls_through_to_the_page(server):
    server.route(
        "i.instagram.com",
        "/api/v1/users/web_profile_info/",
        Reply(200, b"<html>Login</html>", "text/html"),
    )
    server.route(
        "www.instagram.com",
        "/aaronpk/",
        Reply(200, (PAGES / "instagram/aaronpk-2019.html").read_bytes(), "text/html"),
    )
    page = lookup_posts("https://www.instagram.com/aaronpk/", settings_for(server), 12)
    assert page.source == "page" and len(page.posts) == 12
    assert page.platform_user_id == instagram_user()["id"]


def test_instagram_web_api_first(server):
    server.route(
        "i.instagram.com",
        "/api/v1/users/web_profile_info/",
        Reply(200, {"data": {"user": instagram_user()}, "status": "ok"}),
    )
    page = lookup_posts("https://www.instagram.com/aaronpk/", settings_for(server), 5)
    assert page.source == "instagram_web_api" and len(page.posts) == 5
    assert page.platform_user_id == instagram_user()["id"]
    (seen,) = server.requests_to("i.instagram.com")
    assert seen.query == {"username": ["aaronpk"]} and seen.headers["x-ig-app-id"]


def test_mastodon_unknown_account_is_creator_not_found(server):
    # Hand-written: Mastodon's documented 404 body of accounts/lookup.
    server.route(
        "mastodon.social", "/api/v1/accounts/lookup", Reply(404, {"error": "Record not found"})
    )
    with pytest.raises(CreatorNotFound):
        lookup_posts("https://mastodon.social/@nobody", settings_for(server), 5)


def test_mastodon_chain(server):
    account = json.loads(source_file("mastodon/account_gargron_local.json"))
    server.route("mastodon.social", "/api/v1/accounts/lookup", Reply(200, account))
    server.route(
        "mastodon.social",
        f"/api/v1/accounts/{account['id']}/statuses",
        Reply(200, (POSTS / "mastodon/statuses_gargron.json").read_bytes()),
    )
    page = lookup_posts("https://mastodon.social/@Gargron", settings_for(server), 20)
    assert page.followers == account["followers_count"] and len(page.posts) == 1
    assert page.platform_user_id == account["id"]
    (seen,) = server.requests_to("mastodon.social", f"/api/v1/accounts/{account['id']}/statuses")
    assert seen.query == {"limit": ["20"], "exclude_replies": ["true"]}


def test_x_rate_limited_is_upstream_blocked(server):
    # Hand-written: X's documented 429 body.
    server.route(
        "api.x.com",
        "/2/users/by/username/TwitterDev",
        Reply(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}),
    )
    with pytest.raises(UpstreamBlocked):
        lookup_posts("https://x.com/TwitterDev", settings_for(server, x_bearer_token="t"), 5)


def test_x_chain(server):
    server.route(
        "api.x.com",
        "/2/users/by/username/TwitterDev",
        Reply(200, source_file("x/users_by_username_twitterdev.json")),
    )
    server.route(
        "api.x.com",
        "/2/users/2244994945/tweets",
        Reply(200, (POSTS / "x/users_tweets_twitterdev.json").read_bytes()),
    )
    page = lookup_posts("https://x.com/TwitterDev", settings_for(server, x_bearer_token="tok"), 5)
    assert page.followers == 514020 and len(page.posts) == 5
    assert page.platform_user_id == "2244994945"
    assert all(s.headers["authorization"] == "Bearer tok" for s in server.requests_to("api.x.com"))


def test_twitch_chain(server):
    server.route(
        "id.twitch.tv", "/oauth2/token", Reply(200, source_file("twitch/oauth2_token_app.json"))
    )
    server.route(
        "api.twitch.tv",
        "/helix/users",
        Reply(200, source_file("twitch/users_sodapoppin_summit1g.json")),
    )
    server.route(
        "api.twitch.tv",
        "/helix/videos",
        Reply(200, (POSTS / "twitch/videos_dyrus.json").read_bytes()),
    )
    settings = settings_for(server, twitch_client_id="cid", twitch_client_secret="secret")
    page = lookup_posts("https://www.twitch.tv/sodapoppin", settings, 5)
    assert [p.id for p in page.posts] == ["224404190"]
    assert page.platform_user_id == "26301881"  # sodapoppin in the recorded users answer
    (videos,) = server.requests_to("api.twitch.tv", "/helix/videos")
    assert videos.headers["client-id"] == "cid" and videos.query["first"] == ["5"]


def route_twitch(server, *users_replies):
    server.route(
        "id.twitch.tv", "/oauth2/token", Reply(200, source_file("twitch/oauth2_token_app.json"))
    )
    server.route(
        "api.twitch.tv",
        "/helix/users",
        *(users_replies or [Reply(200, source_file("twitch/users_sodapoppin_summit1g.json"))]),
    )
    server.route(
        "api.twitch.tv",
        "/helix/channels/followers",
        Reply(200, source_file("twitch/channels_followers.json")),
    )
    server.route(
        "api.twitch.tv",
        "/helix/videos",
        Reply(200, (POSTS / "twitch/videos_dyrus.json").read_bytes()),
    )


def test_twitch_posts_share_the_profile_sources_cached_token(server):
    route_twitch(server)
    settings = settings_for(server, twitch_client_id="cid", twitch_client_secret="secret")
    url = "https://www.twitch.tv/sodapoppin"
    assert lookup(url, settings).followers == 8  # the profile source fetches the token
    lookup_posts(url, settings, 5)
    lookup_posts(url, settings, 5)
    (token,) = server.requests_to("id.twitch.tv", "/oauth2/token")  # one token for all three
    assert b"client_id=cid" in token.body
    for request in server.requests_to("api.twitch.tv"):
        assert request.headers["authorization"] == "Bearer ajsdfloehfoihsdfhoasjfdpoiqh"
    # A second client id has a token of its own.
    other = settings_for(server, twitch_client_id="cid2", twitch_client_secret="secret2")
    lookup_posts(url, other, 5)
    assert len(server.requests_to("id.twitch.tv", "/oauth2/token")) == 2


def test_twitch_posts_renew_the_token_once_on_401(server):
    expired = Reply(401, source_file("twitch/error_invalid_oauth_token.json"))
    users = Reply(200, source_file("twitch/users_sodapoppin_summit1g.json"))
    route_twitch(server, expired, users)
    settings = settings_for(server, twitch_client_id="cid", twitch_client_secret="secret")
    page = lookup_posts("https://www.twitch.tv/sodapoppin", settings, 5)
    assert [p.id for p in page.posts] == ["224404190"]
    assert len(server.requests_to("id.twitch.tv", "/oauth2/token")) == 2
    assert len(server.requests_to("api.twitch.tv", "/helix/users")) == 2
    # Renewed only once: a token refused twice is a refusal, not a loop.
    server.reset()
    twitch_helix.TOKENS.clear()
    route_twitch(server, expired, expired, users)
    with pytest.raises(UpstreamBlocked):
        lookup_posts("https://www.twitch.tv/sodapoppin", settings, 5)
    assert len(server.requests_to("id.twitch.tv", "/oauth2/token")) == 2


def test_platform_without_posts_is_not_available():
    with pytest.raises(PostsNotAvailable) as caught:
        lookup_posts("https://t.me/durov", FetchSettings(), 5)
    assert caught.value.status == 404 and caught.value.code == "posts_not_available"


def test_catalogue_marks_availability():
    listing = posts_catalogue(Credentials())
    assert set(listing) == set(POSTS_CHAINS)
    assert listing["bluesky"]["available"] is True
    assert listing["youtube"]["available"] is True  # the videos tab needs no key
    assert [s["active"] for s in listing["youtube"]["sources"]] == [False, True]
    assert listing["instagram"]["sources"][0]["name"] == "instagram_web_api"
    assert posts_catalogue(Credentials())["x"]["available"] is False  # needs X_BEARER_TOKEN
    assert posts_catalogue(Credentials(x_bearer_token="t"))["x"]["available"] is True


def test_fixture_files_are_documented():
    readme = (POSTS / "README.md").read_text()
    for path in POSTS.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert str(path.relative_to(POSTS)) in readme, path


def test_twitch_bad_client_is_refused_and_blocked(server):
    # Hand-written: Twitch's documented 400 body for an unknown client id.
    server.route(
        "id.twitch.tv", "/oauth2/token", Reply(400, {"status": 400, "message": "invalid client"})
    )
    settings = settings_for(server, twitch_client_id="bad", twitch_client_secret="bad")
    with pytest.raises(UpstreamBlocked) as caught:
        lookup_posts("https://www.twitch.tv/sodapoppin", settings, 5)
    assert caught.value.details["sources"][0]["reason"] == "invalid_client"
    (token,) = server.requests_to("id.twitch.tv")
    assert b"client_secret=bad" in token.body and "bad" not in json.dumps(caught.value.details)


# --- the chain's fall-through on a parser that meets an unknown shape ---------------------------


class _Crashing(PostsSource):
    """A posts source whose parser meets a shape it does not know (no request is made)."""

    name, platform, endpoint = "crashing", "bluesky", "none"

    def fetch(self, target, client, credentials, limit):
        raise KeyError("a field the parser expected")


class _Answering(PostsSource):
    """A posts source that answers two posts, oldest first (the chain sorts them)."""

    name, platform, endpoint = "answering", "bluesky", "none"

    def fetch(self, target, client, credentials, limit):
        old = Post(id="1", type="text", published_at=datetime(2026, 1, 1, tzinfo=UTC))
        new = Post(id="2", type="text", published_at=datetime(2026, 2, 1, tzinfo=UTC))
        return PostsPage([old, new], 10, self.name)


def test_a_posts_source_that_crashes_hands_over_like_a_broken_one():
    target = target_of("https://bsky.app/profile/carol.test")
    page = run_posts_chain([_Crashing(), _Answering()], target, FetchSettings(), 5)
    assert page.source == "answering" and [p.id for p in page.posts] == ["2", "1"]
    with pytest.raises(UpstreamError) as caught:
        run_posts_chain([_Crashing()], target, FetchSettings(), 5)
    assert caught.value.details["sources"] == [
        {"source": "crashing", "failure": "broken", "reason": "source_error"}
    ]
