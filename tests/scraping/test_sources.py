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
from app.scraping.sources import bluesky_api, catalogue, youtube_data_api
from app.scraping.sources.base import Credentials, LookupSettings
from tests.fixture_server import FIXTURES as PAGES
from tests.tls_server import FIXTURES, Reply, TlsServer, recorded

HOSTS = [
    "public.api.bsky.app",
    "bsky.app",
    "www.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube.com",
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
