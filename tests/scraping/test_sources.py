"""The source chain against recorded responses, served over real TLS under the real host names.

Parsers are tested on the recorded bytes alone; the chain (fall-through, merge, deadline, final
error) through ``profiles.scrape`` and a local HTTPS server (tests/tls_server.py) that answers
for ``public.api.bsky.app``, ``bsky.app``... with the files in tests/fixtures/sources/ and the
shared creator pages. Hand-written bodies are error cases only, in the API's own error format.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.profiles import fetch_settings
from app.profiles import scrape as profiles_scrape
from app.scraping.fetch import (
    CreatorNotFound,
    FetchSettings,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)
from app.scraping.sources import (
    bluesky_api,
    catalogue,
    instagram_web,
    mastodon_api,
    twitch_helix,
    x_api,
    youtube_data_api,
)
from app.scraping.sources.base import Credentials, LookupSettings
from tests.fixture_server import FIXTURES as PAGES
from tests.tls_server import FIXTURES, Reply, TlsServer, recorded

HOSTS = [
    "public.api.bsky.app",
    "bsky.app",
    "www.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube.com",
    "consent.youtube.com",
    "id.twitch.tv",
    "api.twitch.tv",
    "www.twitch.tv",
    "api.x.com",
    "x.com",
    "www.instagram.com",
    "www.tiktok.com",
    "mastodon.social",
    "ap.example.com",
    "example.com",
]


def page(relative: str, status: int = 200) -> Reply:
    """A shared real creator page as an HTML reply."""
    return Reply(status, (PAGES / relative).read_bytes(), "text/html; charset=utf-8")


def load(relative: str):
    return json.loads((FIXTURES / relative).read_text())


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    with TlsServer(HOSTS) as server:
        server.ca_path = server.write_ca(tmp_path_factory.mktemp("ca"))
        yield server


@pytest.fixture
def server(tls):
    tls.reset()
    yield tls


def settings_for(server: TlsServer, deadline: float = 5.0, **credentials) -> LookupSettings:
    config = {
        "FETCH_RESOLVER": server.resolver,
        "FETCH_CA_BUNDLE": server.ca_path,
        "FETCH_CONNECT_TIMEOUT": 1.0,
        "FETCH_READ_TIMEOUT": 1.0,
        "FETCH_DEADLINE": deadline,
        "FETCH_MAX_BYTES": 5_000_000,
        "FETCH_MAX_REDIRECTS": 3,
        "FETCH_RETRIES": 1,
        "FETCH_ALLOW_LOOPBACK": True,
        **{name.upper(): value for name, value in credentials.items()},
    }
    return dataclasses.replace(fetch_settings(config), backoff=0.05)


def scrape(url: str, settings: LookupSettings) -> dict:
    return profiles_scrape(url, settings).data


# --- Bluesky: parser --------------------------------------------------------------------------


def test_bluesky_parser_reads_the_appview_profile():
    profile = bluesky_api.parse(load("bluesky/getprofile_alice_snapshot.json"))
    assert profile.platform == "bluesky"
    assert profile.platform_user_id == "user(0)"
    assert profile.handle == "alice.test"
    assert profile.display_name == "ali"
    assert profile.bio == "its me!"
    assert (profile.followers, profile.following, profile.posts) == (2, 3, 4)
    assert profile.avatar_url.startswith("https://bsky.public.url/img/avatar/")
    assert profile.profile_url == "https://bsky.app/profile/alice.test"
    assert profile.counts_approximate is False
    assert profile.sources["followers"] == "bluesky_api"


def test_bluesky_parser_refuses_a_body_without_a_did():
    with pytest.raises(bluesky_api.SourceFailed) as failed:
        bluesky_api.parse({"handle": "x"})
    assert failed.value.kind == "broken"


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (400, {"error": "InvalidRequest", "message": "Profile not found"}, "not_found", None),
        (
            400,
            {"error": "AccountTakedown", "message": "Account has been suspended"},
            "not_found",
            None,
        ),
        (401, {"error": "AuthMissing", "message": "Authentication Required"}, "refused", None),
        (
            429,
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            "rate_limited",
            None,
        ),
        (502, b"<html>bad gateway</html>", "broken", "status_502"),
    ],
)
def test_bluesky_errors_are_classified(status, body, kind, reason):
    # Hand-written error bodies in the XRPC error format ({"error", "message"}).
    from app.scraping.fetch import FetchedResponse

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    failure = bluesky_api.error_of(FetchedResponse("https://x", status, {}, raw, None))
    assert failure.kind == kind
    if reason:
        assert failure.reason == reason


# --- Bluesky: the chain over TLS --------------------------------------------------------------

BSKY_URL = "https://bsky.app/profile/stephenking.bsky.social"
API_PATH = "/xrpc/app.bsky.actor.getProfile"


def test_bluesky_api_answers_alone_with_exact_counts(server):
    server.route(
        "public.api.bsky.app", API_PATH, recorded("bluesky/getprofile_alice_snapshot.json")
    )
    data = scrape(BSKY_URL, settings_for(server))
    assert data["handle"] == "alice.test"
    assert data["followers"] == 2
    assert data["sources"]["followers"] == "bluesky_api"
    assert data["counts_approximate"] is False
    [call] = server.requests_to("public.api.bsky.app")
    assert call.query == {"actor": ["stephenking.bsky.social"]}
    assert server.requests_to("bsky.app") == []  # complete: the page is not fetched


@pytest.mark.parametrize(
    "api_reply",
    [
        Reply(500, {"error": "InternalServerError", "message": "Internal Server Error"}),
        Reply(403, {"error": "Forbidden", "message": "Forbidden"}),
        Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}),
        Reply(200, b"<html>not json</html>", "text/html"),
        Reply(200, {"error": "x"}, delay=1.5),  # slower than FETCH_READ_TIMEOUT
    ],
    ids=["5xx", "refused", "rate_limited", "malformed", "timeout"],
)
def test_bluesky_falls_through_to_the_page(server, api_reply):
    server.route("public.api.bsky.app", API_PATH, api_reply)
    server.route("bsky.app", "/profile/stephenking.bsky.social", page("bluesky/stephenking.html"))
    data = scrape(BSKY_URL, settings_for(server))
    assert data["handle"] == "stephenking.bsky.social"
    assert data["platform_user_id"].startswith("did:plc:")
    assert isinstance(data["followers"], int)
    assert data["sources"]["followers"].startswith("page:")
    assert len(server.requests_to("bsky.app")) == 1


def test_an_authoritative_not_found_stops_the_chain(server):
    server.route(
        "public.api.bsky.app",
        API_PATH,
        Reply(400, {"error": "InvalidRequest", "message": "Profile not found"}),
    )
    server.route("bsky.app", "/profile/stephenking.bsky.social", page("bluesky/stephenking.html"))
    with pytest.raises(CreatorNotFound) as failed:
        scrape(BSKY_URL, settings_for(server))
    assert failed.value.details["reason"] == "profile_not_found"
    assert server.requests_to("bsky.app") == []


def test_every_source_refused_is_upstream_blocked(server):
    server.route("public.api.bsky.app", API_PATH, Reply(403, {"error": "Forbidden"}))
    server.route(
        "bsky.app", "/profile/stephenking.bsky.social", Reply(429, b"slow down", "text/html")
    )
    with pytest.raises(UpstreamBlocked) as failed:
        scrape(BSKY_URL, settings_for(server))
    listing = failed.value.details["sources"]
    assert [(s["source"], s["failure"]) for s in listing] == [
        ("bluesky_api", "refused"),
        ("page", "rate_limited"),
    ]


def test_a_failing_source_and_a_refusal_is_upstream_error(server):
    server.route("public.api.bsky.app", API_PATH, Reply(503, {"error": "Unavailable"}))
    server.route("bsky.app", "/profile/stephenking.bsky.social", Reply(403, b"no", "text/html"))
    with pytest.raises(UpstreamError) as failed:
        scrape(BSKY_URL, settings_for(server))
    assert [s["failure"] for s in failed.value.details["sources"]] == ["broken", "refused"]


def test_one_deadline_covers_every_source(server):
    server.route("public.api.bsky.app", API_PATH, Reply(200, {}, delay=0.9))
    server.route(
        "bsky.app",
        "/profile/stephenking.bsky.social",
        Reply(200, (PAGES / "bluesky/stephenking.html").read_bytes(), "text/html", delay=0.9),
    )
    started = time.monotonic()
    with pytest.raises((UpstreamTimeout, UpstreamError)):
        scrape(BSKY_URL, settings_for(server, deadline=1.2))
    assert time.monotonic() - started < 2.0  # not 2 x 0.9 s plus retries


def test_plain_fetch_settings_run_the_sources_without_credentials(server):
    """Callers passing plain FetchSettings (no credentials) still get the keyless sources."""
    server.route(
        "public.api.bsky.app", API_PATH, recorded("bluesky/getprofile_alice_snapshot.json")
    )
    full = settings_for(server)
    base = FetchSettings(
        **{f.name: getattr(full, f.name) for f in dataclasses.fields(FetchSettings)}
    )
    assert scrape(BSKY_URL, base)["sources"]["handle"] == "bluesky_api"


# --- catalogue ---------------------------------------------------------------------------------


def test_catalogue_lists_each_platform_with_its_sources_in_order():
    listing = {entry["platform"]: entry["sources"] for entry in catalogue(Credentials())}
    assert [s["name"] for s in listing["bluesky"]] == ["bluesky_api", "page"]
    assert listing["bluesky"][0]["active"] is True
    assert listing["bluesky"][0]["fields"]["followers"] == "exact"
    assert all(s["name"] == "page" for s in listing["telegram"])


def test_settings_never_show_credentials():
    settings = fetch_settings(
        {
            "FETCH_CONNECT_TIMEOUT": 1.0,
            "FETCH_READ_TIMEOUT": 1.0,
            "FETCH_DEADLINE": 1.0,
            "FETCH_MAX_BYTES": 1024,
            "FETCH_MAX_REDIRECTS": 1,
            "FETCH_RETRIES": 0,
            "FETCH_ALLOW_LOOPBACK": False,
            "X_BEARER_TOKEN": "AAAA-secret-bearer",
        }
    )
    assert "AAAA-secret-bearer" not in repr(settings)
    assert "x_bearer_token" in repr(settings.credentials)


def test_fixture_files_are_documented():
    readme = (Path(FIXTURES) / "README.md").read_text()
    for path in Path(FIXTURES).rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert str(path.relative_to(FIXTURES)) in readme, path


# --- YouTube Data API --------------------------------------------------------------------------

YT_API = ("www.googleapis.com", "/youtube/v3/channels")
YT_URL = "https://www.youtube.com/@onemedia"
# Hand-written: Google's documented error body for an exhausted daily quota (403 quotaExceeded).
QUOTA_EXCEEDED = {
    "error": {
        "code": 403,
        "message": "The request cannot be completed because you have exceeded your quota.",
        "errors": [
            {
                "message": "The request cannot be completed because you have exceeded your quota.",
                "domain": "youtube.quota",
                "reason": "quotaExceeded",
            }
        ],
    }
}


@pytest.fixture(autouse=True)
def _no_youtube_pause():
    youtube_data_api.PAUSES.clear()
    yield
    youtube_data_api.PAUSES.clear()


def test_youtube_parser_reads_channels_list():
    profile = youtube_data_api.parse(load("youtube/channels_list_google_developers.json"))
    assert profile.platform_user_id == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    assert profile.handle == "googledevelopers"
    assert profile.display_name == "Google Developers"
    assert profile.bio.startswith("The Google Developers channel features talks")
    assert profile.avatar_url.endswith("=s800-c-k-c0xffffffff-no-rj-mo")
    assert (profile.followers, profile.posts) == (1927873, 5026)
    assert profile.counts_approximate is True  # subscriberCount is rounded by YouTube
    assert profile.profile_url == "https://www.youtube.com/@googledevelopers"
    assert profile.sources["followers"] == "youtube_data_api"


def test_youtube_parser_empty_items_is_not_found():
    with pytest.raises(youtube_data_api.SourceFailed) as failed:
        youtube_data_api.parse({"kind": "youtube#channelListResponse", "pageInfo": {}})
    assert failed.value.kind == "not_found"


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (400, load("youtube/error_key_invalid.json"), "refused", "key_invalid"),
        (
            403,
            load("youtube/error_permission_denied.json"),
            "refused",
            "service_unavailable",
        ),
        (403, QUOTA_EXCEEDED, "rate_limited", "quota_exceeded"),
    ],
)
def test_youtube_errors_are_classified(status, body, kind, reason):
    from app.scraping.fetch import FetchedResponse

    failure = youtube_data_api.error_of(
        FetchedResponse("https://x", status, {}, json.dumps(body).encode(), None)
    )
    assert (failure.kind, failure.reason) == (kind, reason)


@pytest.mark.parametrize(
    ("path", "selector"),
    [
        ("/@MKBHD/videos", {"forHandle": "@MKBHD"}),
        ("/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw", {"id": "UC_x5XG1OV2P6uZZ5FSM9Ttw"}),
        ("/user/GoogleDevelopers", {"forUsername": "GoogleDevelopers"}),
        ("/c/GoogleDevelopers", None),
    ],
)
def test_youtube_lookup_selector(path, selector):
    from app.scraping.sources import target_of

    assert youtube_data_api.lookup_params(target_of("https://www.youtube.com" + path)) == selector


def test_quota_resets_at_midnight_pacific():
    from datetime import UTC, datetime

    reset = youtube_data_api.next_quota_reset(datetime(2026, 7, 1, 6, 30, tzinfo=UTC))
    assert reset.isoformat() == "2026-07-01T00:00:00-07:00"


def test_youtube_without_a_key_reads_the_page_in_english_past_the_consent_wall(server):
    server.route("www.youtube.com", "/@onemedia", page("youtube/onemedia-2024.html"))
    data = scrape(YT_URL, settings_for(server))
    assert data["platform_user_id"].startswith("UC")
    assert data["sources"]["followers"].startswith("page:")
    assert server.requests_to(*YT_API) == []
    [call] = server.requests_to("www.youtube.com")
    assert call.query["hl"] == ["en"] and call.query["gl"] == ["US"]
    assert "SOCS=CAI" in call.headers["cookie"]


def test_youtube_with_a_key_asks_the_api_and_keeps_the_key_out_of_the_url(server):
    server.route(*YT_API, recorded("youtube/channels_list_google_developers.json"))
    data = scrape(YT_URL, settings_for(server, youtube_api_key="AIza-test-key"))
    assert data["platform_user_id"] == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    assert data["sources"]["followers"] == "youtube_data_api"
    [call] = server.requests_to(*YT_API)
    assert call.headers["x-goog-api-key"] == "AIza-test-key"
    assert call.query == {
        "part": ["snippet,statistics,brandingSettings"],
        "forHandle": ["@onemedia"],
    }
    assert server.requests_to("www.youtube.com") == []  # sufficient: the page adds nothing


def test_youtube_quota_exceeded_pauses_the_api_and_falls_through(server):
    server.route(*YT_API, Reply(403, QUOTA_EXCEEDED))
    server.route("www.youtube.com", "/@onemedia", page("youtube/onemedia-2024.html"))
    settings = settings_for(server, youtube_api_key="AIza-test-key")
    first = scrape(YT_URL, settings)
    second = scrape(YT_URL, settings)
    assert first["sources"]["followers"].startswith("page:")
    assert second["platform_user_id"] == first["platform_user_id"]
    assert len(server.requests_to(*YT_API)) == 1  # paused after the first quotaExceeded
    assert len(server.requests_to("www.youtube.com")) == 2


@pytest.mark.parametrize(
    "api_reply",
    [
        Reply(500, {"error": {"code": 500, "message": "Backend Error"}}),
        Reply(400, load("youtube/error_key_invalid.json")),
        Reply(200, {}, delay=1.5),
    ],
    ids=["5xx", "key_invalid", "timeout"],
)
def test_youtube_api_failures_fall_through_to_the_page(server, api_reply):
    server.route(*YT_API, api_reply)
    server.route("www.youtube.com", "/@onemedia", page("youtube/onemedia-2024.html"))
    data = scrape(YT_URL, settings_for(server, youtube_api_key="AIza-test-key"))
    assert data["sources"]["followers"].startswith("page:")


# --- X API v2 ----------------------------------------------------------------------------------

X_API = ("api.x.com", "/2/users/by/username/kikobeats")
X_URL = "https://x.com/kikobeats"
# Hand-written, in the API's format as recorded by sciety (a 200 with an errors array):
X_NOT_FOUND = {
    "errors": [
        {
            "value": "kikobeats",
            "detail": "Could not find user with username: [kikobeats].",
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "username",
            "resource_id": "kikobeats",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }
    ]
}
# Hand-written problem documents (X API v2 error format) for 401 and 429.
X_UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
X_TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


def test_x_parser_reads_the_user_lookup():
    profile = x_api.parse(load("x/users_by_username_twitterdev.json"))
    assert (profile.platform_user_id, profile.handle, profile.display_name) == (
        "2244994945",
        "TwitterDev",
        "Twitter Dev",
    )
    assert (profile.followers, profile.following, profile.posts) == (514020, 2038, 3639)
    assert profile.verified is True
    assert profile.profile_url == "https://x.com/TwitterDev"
    assert profile.sources["profile_url"] == "x_api"


def test_x_parser_expands_the_website_and_takes_the_large_avatar():
    profile = x_api.parse(load("x/users_twitter_twitterdev.json"))
    assert profile.external_links == ["https://about.twitter.com/"]
    assert profile.avatar_url.endswith("-SGZioPb_400x400.jpg")


def test_x_not_found_is_authoritative():
    with pytest.raises(x_api.SourceFailed) as failed:
        x_api.parse(X_NOT_FOUND)
    assert (failed.value.kind, failed.value.reason) == ("not_found", "user_not_found")


def test_x_with_a_token_uses_the_api_and_never_puts_it_in_the_url(server):
    server.route(*X_API, recorded("x/users_by_username_twitterdev.json"))
    data = scrape(X_URL, settings_for(server, x_bearer_token="AAAA-test-bearer"))
    assert data["sources"]["followers"] == "x_api"
    [call] = server.requests_to(*X_API)
    assert call.headers["authorization"] == "Bearer AAAA-test-bearer"
    assert "AAAA" not in json.dumps(call.query)
    assert "public_metrics" in call.query["user.fields"][0]


@pytest.mark.parametrize(
    "api_reply",
    [Reply(401, X_UNAUTHORIZED), Reply(429, X_TOO_MANY), Reply(503, b"", "text/plain")],
    ids=["refused", "rate_limited", "5xx"],
)
def test_x_api_failures_fall_through_to_the_page(server, api_reply):
    server.route(*X_API, api_reply)
    server.route("x.com", "/kikobeats", page("x/kikobeats-2025.html"))
    data = scrape(X_URL, settings_for(server, x_bearer_token="AAAA-test-bearer"))
    assert data["handle"].lower() == "kikobeats"
    assert data["sources"]["display_name"].startswith("page:")


def test_x_without_a_token_reads_the_page_only(server):
    server.route("x.com", "/kikobeats", page("x/kikobeats-2025.html"))
    data = scrape(X_URL, settings_for(server))
    assert data["sources"]["display_name"].startswith("page:")
    assert server.requests_to("api.x.com") == []


def test_x_not_found_from_the_api_is_404(server):
    server.route(*X_API, Reply(200, X_NOT_FOUND))
    with pytest.raises(CreatorNotFound):
        scrape(X_URL, settings_for(server, x_bearer_token="AAAA-test-bearer"))


# --- Twitch Helix ------------------------------------------------------------------------------

TW_TOKEN = ("id.twitch.tv", "/oauth2/token")
TW_USERS = ("api.twitch.tv", "/helix/users")
TW_FOLLOWERS = ("api.twitch.tv", "/helix/channels/followers")
TW_URL = "https://www.twitch.tv/sodapoppin"
TW_CREDS = {"twitch_client_id": "cid-test", "twitch_client_secret": "secret-test"}


@pytest.fixture(autouse=True)
def _no_twitch_tokens():
    twitch_helix.TOKENS.clear()
    yield
    twitch_helix.TOKENS.clear()


def test_twitch_parsers_read_users_and_the_follower_total():
    profile = twitch_helix.parse_users(load("twitch/users_sodapoppin_summit1g.json"))
    assert (profile.platform_user_id, profile.handle, profile.display_name) == (
        "26301881",
        "sodapoppin",
        "sodapoppin",
    )
    assert profile.verified is True  # partner
    assert twitch_helix.parse_followers(load("twitch/channels_followers.json")) == 8
    assert twitch_helix.parse_token(load("twitch/oauth2_token_app.json")) == (
        "ajsdfloehfoihsdfhoasjfdpoiqh",
        4999199.0,
    )
    with pytest.raises(twitch_helix.SourceFailed) as failed:
        twitch_helix.parse_users({"data": []})
    assert failed.value.kind == "not_found"


def test_twitch_gets_a_token_once_and_reads_users_and_followers(server):
    server.route(*TW_TOKEN, recorded("twitch/oauth2_token_app.json"))
    server.route(*TW_USERS, recorded("twitch/users_sodapoppin_summit1g.json"))
    server.route(*TW_FOLLOWERS, recorded("twitch/channels_followers.json"))
    settings = settings_for(server, **TW_CREDS)
    first = scrape(TW_URL, settings)
    scrape(TW_URL, settings)
    assert first["followers"] == 8
    assert first["sources"]["followers"] == "twitch_helix"
    [token_call] = server.requests_to(*TW_TOKEN)  # cached for the second lookup
    assert token_call.method == "POST"
    assert b"client_secret=secret-test" in token_call.body
    assert b"grant_type=client_credentials" in token_call.body
    users_call = server.requests_to(*TW_USERS)[0]
    assert users_call.query == {"login": ["sodapoppin"]}
    assert users_call.headers["client-id"] == "cid-test"
    assert users_call.headers["authorization"] == "Bearer ajsdfloehfoihsdfhoasjfdpoiqh"
    assert server.requests_to("www.twitch.tv") == []


def test_twitch_renews_the_token_once_on_401(server):
    server.route(*TW_TOKEN, recorded("twitch/oauth2_token_app.json"))
    server.route(
        *TW_USERS,
        recorded("twitch/error_invalid_oauth_token.json", status=401),
        recorded("twitch/users_sodapoppin_summit1g.json"),
    )
    server.route(*TW_FOLLOWERS, recorded("twitch/channels_followers.json"))
    data = scrape(TW_URL, settings_for(server, **TW_CREDS))
    assert data["sources"]["handle"] == "twitch_helix"
    assert len(server.requests_to(*TW_TOKEN)) == 2
    assert len(server.requests_to(*TW_USERS)) == 2


def test_twitch_bad_credentials_fall_through_to_the_page_shell(server):
    # Hand-written, in the token endpoint's error format: {"status", "message"}.
    server.route(*TW_TOKEN, Reply(400, {"status": 400, "message": "invalid client"}))
    server.route("www.twitch.tv", "/sodapoppin", page("twitch/twit-2021-shell.html"))
    with pytest.raises(UpstreamBlocked) as failed:
        scrape(TW_URL, settings_for(server, **TW_CREDS))
    assert [(s["source"], s["reason"]) for s in failed.value.details["sources"]] == [
        ("twitch_helix", "invalid_client"),
        ("page", "empty_page"),
    ]


def test_twitch_without_followers_still_answers(server):
    server.route(*TW_TOKEN, recorded("twitch/oauth2_token_app.json"))
    server.route(*TW_USERS, recorded("twitch/users_sodapoppin_summit1g.json"))
    server.route(*TW_FOLLOWERS, Reply(500, {"error": "Internal Server Error", "status": 500}))
    server.route("www.twitch.tv", "/sodapoppin", page("twitch/twit-2021-shell.html"))
    data = scrape(TW_URL, settings_for(server, **TW_CREDS))
    assert data["followers"] is None
    assert data["display_name"] == "sodapoppin"


# --- Instagram web_profile_info -----------------------------------------------------------------

IG_API = ("www.instagram.com", "/api/v1/users/web_profile_info/")
IG_URL = "https://www.instagram.com/megadeth/"


def test_instagram_parser_reads_web_profile_info():
    profile = instagram_web.parse(load("instagram/web_profile_info_megadeth.json"))
    assert (profile.platform_user_id, profile.handle, profile.display_name) == (
        "343260652",
        "megadeth",
        "Megadeth",
    )
    assert (profile.followers, profile.following, profile.posts) == (2520817, 122, 2328)
    assert profile.counts_approximate is False
    assert (profile.verified, profile.is_business_account, profile.category) == (
        True,
        True,
        "Musician/band",
    )
    assert profile.external_links == ["http://megadeth.lnk.to/sickdyingdead/"]
    assert profile.avatar_url.startswith("https://scontent-sjc3-1.cdninstagram.com/")


def test_instagram_uses_the_website_json_before_the_page(server):
    server.route(*IG_API, recorded("instagram/web_profile_info_megadeth.json"))
    data = scrape(IG_URL, settings_for(server))
    assert data["followers"] == 2520817
    assert data["sources"]["followers"] == "instagram_web"
    [call] = server.requests_to(*IG_API)
    assert call.query == {"username": ["megadeth"]}
    assert call.headers["x-ig-app-id"] == instagram_web.APP_ID
    assert server.requests_to("www.instagram.com", "/megadeth/") == []


def test_instagram_login_wall_falls_through_to_the_page_meta(server):
    server.route(
        *IG_API,
        Reply(
            302, b"", "text/html", headers={"Location": "https://www.instagram.com/accounts/login/"}
        ),
    )
    server.route("www.instagram.com", "/megadeth/", page("instagram/pluto__travel-2024.html"))
    data = scrape(IG_URL, settings_for(server))
    assert data["sources"]["followers"].startswith("page:")
    assert data["platform"] == "instagram"
    assert len(server.requests_to(*IG_API)) == 1


def test_instagram_require_login_is_a_refusal():
    # Hand-written, in the format Instagram answers throttled anonymous clients with.
    from app.scraping.fetch import FetchedResponse

    body = {
        "message": "Please wait a few minutes before you try again.",
        "require_login": True,
        "status": "fail",
    }
    failure = instagram_web.error_of(
        FetchedResponse("https://x", 401, {}, json.dumps(body).encode(), None)
    )
    assert (failure.kind, failure.reason) == ("refused", "login_required")


# --- Mastodon ----------------------------------------------------------------------------------

MASTO_URL = "https://mastodon.social/@Gargron"


def test_mastodon_parser_reads_an_account():
    profile = mastodon_api.parse(load("mastodon/account_gargron_local.json"), "mastodon.social")
    assert profile.platform == "mastodon"
    assert profile.handle == "Gargron@mastodon.social"
    assert profile.display_name == "Eugen"
    assert profile.bio.startswith("Developer of Mastodon and administrator")
    assert "<p>" not in profile.bio
    assert (profile.followers, profile.following, profile.posts) == (318699, 453, 61013)
    assert profile.external_links == [
        "https://www.patreon.com/mastodon",
        "https://zeonfederated.com",
    ]
    assert profile.profile_url == "https://mastodon.social/@Gargron"


def test_mastodon_note_html_becomes_text_and_mentions_stay_out_of_links():
    profile = mastodon_api.parse(load("mastodon/account_noiob_remote.json"))
    assert profile.handle == "noiob@awoo.space"
    assert "#awoo.space" in profile.bio and "<a" not in profile.bio
    assert "https://weirder.earth/@dzuk" not in profile.external_links  # a mention in the note
    assert profile.external_links[-1] == "http://shork.xyz"


def test_mastodon_suspended_account_is_not_found():
    with pytest.raises(mastodon_api.SourceFailed) as failed:
        mastodon_api.parse(load("mastodon/account_suspended.json"))
    assert failed.value.kind == "not_found"


def test_mastodon_html_to_text_keeps_paragraphs_and_line_breaks():
    text = mastodon_api.html_to_text("<p>one<br>two</p><p>three &amp; four</p>")
    assert text == "one\ntwo\n\nthree & four"


def test_mastodon_webfinger_then_lookup_on_the_accounts_server(server):
    server.route(
        "example.com",
        "/.well-known/webfinger",
        recorded("mastodon/webfinger_foo_ap_example_com.json", content_type="application/jrd+json"),
    )
    server.route(
        "ap.example.com", "/api/v1/accounts/lookup", recorded("mastodon/account_gargron_local.json")
    )
    data = scrape("https://example.com/@foo", settings_for(server))
    assert data["platform"] == "mastodon"
    assert data["sources"]["followers"] == "mastodon_api"
    [finger] = server.requests_to("example.com", "/.well-known/webfinger")
    assert finger.query == {"resource": ["acct:foo@example.com"]}
    [lookup] = server.requests_to("ap.example.com")
    assert lookup.query == {"acct": ["foo@example.com"]}


def test_mastodon_without_webfinger_asks_the_domain_itself(server):
    server.route(
        "mastodon.social",
        "/api/v1/accounts/lookup",
        recorded("mastodon/account_gargron_local.json"),
    )
    data = scrape(MASTO_URL, settings_for(server))
    assert data["handle"] == "Gargron@mastodon.social"
    assert server.requests_to("mastodon.social", "/api/v1/accounts/lookup")[0].query == {
        "acct": ["Gargron"]
    }


def test_mastodon_record_not_found_is_404(server):
    server.route(
        "mastodon.social",
        "/api/v1/accounts/lookup",
        recorded("mastodon/error_record_not_found.json", status=404),
    )
    with pytest.raises(CreatorNotFound):
        scrape(MASTO_URL, settings_for(server))


def test_a_fediverse_host_that_resolves_privately_is_refused(server):
    from app.scraping.fetch import UrlNotAllowed

    settings = dataclasses.replace(settings_for(server), allow_loopback=False)
    with pytest.raises(UrlNotAllowed):
        scrape(MASTO_URL, settings)


# --- TikTok: the page in its current and older shapes --------------------------------------------


@pytest.mark.parametrize(
    ("url", "reply", "handle"),
    [
        ("https://www.tiktok.com/@illojuan", page("tiktok/illojuan.html"), "illojuan"),
        (
            "https://www.tiktok.com/@huxleythepandapuppy",
            recorded("tiktok/huxleythepandapuppy-2023-sigi.html"),
            "huxleythepandapuppy",
        ),
    ],
    ids=["universal-data-2024", "sigi-state-2023"],
)
def test_tiktok_page_rehydration_json(server, url, reply, handle):
    server.route("www.tiktok.com", "/@" + handle, reply)
    data = scrape(url, settings_for(server))
    assert data["handle"] == handle
    assert isinstance(data["followers"], int) and data["followers"] > 0
    assert data["counts_approximate"] is False
    assert data["sources"]["followers"].startswith("page:")


# --- every chain falls through on every kind of API failure -------------------------------------

CHAINS = {
    # platform: (profile URL, API host and path, credentials, page host and path, shared page)
    "bluesky": (BSKY_URL, ("public.api.bsky.app", API_PATH), {}, "bluesky/stephenking.html"),
    "youtube": (YT_URL, YT_API, {"youtube_api_key": "k"}, "youtube/onemedia-2024.html"),
    "x": (X_URL, X_API, {"x_bearer_token": "t"}, "x/kikobeats-2025.html"),
    "instagram": (IG_URL, IG_API, {}, "instagram/pluto__travel-2024.html"),
    "twitch": (TW_URL, TW_TOKEN, TW_CREDS, "twitch/twit-2021-shell.html"),
    "mastodon": (MASTO_URL, ("mastodon.social", "/api/v1/accounts/lookup"), {}, None),
}
FAILURES = {
    "refused": Reply(403, {"error": "Forbidden", "message": "Forbidden"}),
    "rate_limited": Reply(429, {"error": "Too Many Requests"}),
    "5xx": Reply(502, b"<html>Bad gateway</html>", "text/html"),
    "timeout": Reply(200, {}, delay=1.5),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("platform", sorted(CHAINS))
def test_each_chain_hands_over_to_the_page(server, platform, failure):
    url, api, credentials, shared_page = CHAINS[platform]
    server.route(*api, FAILURES[failure])
    page_path = urlsplit(url).path
    page_host = urlsplit(url).hostname
    if shared_page:
        server.route(page_host, page_path, page(shared_page))
    settings = settings_for(server, **credentials)
    try:
        data = scrape(url, settings)
    except (UpstreamBlocked, UpstreamError, UpstreamTimeout, CreatorNotFound) as err:
        # Twitch's page is an app shell and no Mastodon page is served: the chain still tried it.
        assert platform in {"twitch", "mastodon"}, err.details
        assert [s["source"] for s in err.details["sources"]][-1] == "page"
    else:
        assert data["sources"]["display_name"].startswith("page:")
    assert server.requests_to(*api), "the API was asked first"
    assert server.requests_to(page_host, page_path), "then the page"


def test_credentials_never_reach_logs_or_error_bodies(server, caplog):
    secrets = {
        "youtube_api_key": "AIzaSECRET-yt",
        "x_bearer_token": "AAAASECRET-x",
        "twitch_client_id": "cidSECRET",
        "twitch_client_secret": "SECRET-twitch",
    }
    server.route(*YT_API, Reply(400, load("youtube/error_key_invalid.json")))
    server.route(*X_API, Reply(401, X_UNAUTHORIZED))
    server.route(*TW_TOKEN, Reply(403, {"status": 403, "message": "invalid client secret"}))
    settings = settings_for(server, **secrets)
    details = []
    with caplog.at_level("DEBUG"):
        for url in (YT_URL, X_URL, TW_URL):
            with pytest.raises((UpstreamBlocked, UpstreamError, CreatorNotFound)) as failed:
                scrape(url, settings)
            details.append(json.dumps(failed.value.details))
    seen = caplog.text + " ".join(details) + repr(settings)
    for secret in secrets.values():
        assert secret not in seen
    for call in server.seen:  # and never in a URL
        assert not any(secret in json.dumps(call.query) for secret in secrets.values())


def test_an_answer_of_an_unknown_shape_hands_over_to_the_page(server):
    weird = {"kind": "youtube#channelListResponse", "items": [{"id": "UC1", "snippet": "text"}]}
    server.route(*YT_API, Reply(200, weird))
    server.route("www.youtube.com", "/@onemedia", page("youtube/onemedia-2024.html"))
    data = scrape(YT_URL, settings_for(server, youtube_api_key="k"))
    assert data["sources"]["followers"].startswith("page:")


def test_a_redirect_to_the_consent_page_is_a_refusal(server):
    consent = "https://consent.youtube.com/m?continue=https%3A%2F%2Fwww.youtube.com%2F%40onemedia"
    server.route(
        "www.youtube.com", "/@onemedia", Reply(302, b"", "text/html", headers={"Location": consent})
    )
    # Hand-written stand-in for Google's consent page (an error case: no profile data in it).
    server.route(
        "consent.youtube.com",
        "/m",
        Reply(200, b"<html><title>Before you continue</title></html>", "text/html"),
    )
    with pytest.raises(UpstreamBlocked) as failed:
        scrape(YT_URL, settings_for(server))
    assert failed.value.details["reason"] == "consent_wall"
