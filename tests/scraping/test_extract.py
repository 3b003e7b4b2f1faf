"""Extractors against the real saved pages in ``../shared/fixtures/creators`` and small
hand-written pages for structures no saved page shows (Linktree, YouTube's 2024 header...).

Each fixture's ``<name>.json`` sidecar holds ``expected`` values read by hand from the page.
Conventions (see the fixtures README): ``channel_id``/``user_id`` are ``platform_user_id``;
handles are compared without "@"; ``bio`` on its first 60 characters after whitespace
normalisation; ``<field>_is_rounded`` means ``counts_approximate``; URL values are written as in
the page, so relative ones ("/photo.jpg", "twitch.tv/x") are resolved the way the API must
return them (absolute); the fixture folder "personal" is the API's generic platform "web".
Every other key must match exactly.
"""

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from app.scraping import CreatorProfile, extract_profile

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CREATORSCRAPE_SHARED") or REPO_ROOT.parent / "shared")
FIXTURES = sorted((SHARED / "fixtures" / "creators").glob("*/*.json"))

FIELD_ALIASES = {"channel_id": "platform_user_id", "user_id": "platform_user_id"}
PLATFORM_ALIASES = {"personal": "web"}
URL_FIELDS = {"avatar_url", "external_links", "profile_url"}
COUNT_FIELDS = ("followers", "following", "posts", "likes")
PROFILE_FIELDS = set(CreatorProfile.model_fields)
BIO_PREFIX = 60


def load(sidecar: Path) -> tuple[dict[str, Any], CreatorProfile]:
    """Read a fixture's sidecar and extract its page (URL "" when the sidecar has none)."""
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    html = sidecar.with_suffix(".html").read_text(encoding="utf-8")
    return meta, extract_profile(meta.get("url") or "", html)


def normalise_space(text: str | None) -> str:
    """Collapse whitespace runs to one space."""
    return re.sub(r"\s+", " ", text or "").strip()


def resolve(url: str, page_url: str | None) -> str:
    """Resolve a URL as written in the page into the absolute URL the API returns."""
    if urlsplit(url).scheme:
        return url
    if re.match(r"[\w-]+(\.[\w-]+)+/", url):
        return "https://" + url
    return urljoin(page_url or "", url)


def expected_pairs(meta: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Turn a sidecar's ``expected`` into ``(field, expected, actual-getter key)`` checks."""
    checks = []
    for key, value in meta["expected"].items():
        if key.endswith("_is_rounded"):
            field = key.removesuffix("_is_rounded")
            assert field in COUNT_FIELDS, f"unknown rounded field {key}"
            checks.append(("counts_approximate", bool(value), key))
            continue
        field = FIELD_ALIASES.get(key, key)
        assert field in PROFILE_FIELDS, f"sidecar key {key!r} has no CreatorProfile field"
        if field == "platform":
            value = PLATFORM_ALIASES.get(value, value)
        elif field == "handle":
            value = value.lstrip("@")
        elif field == "bio":
            value = normalise_space(value)
        elif field in URL_FIELDS:
            page_url = meta.get("url")
            value = (
                [resolve(url, page_url) for url in value]
                if isinstance(value, list)
                else resolve(value, page_url)
            )
        checks.append((field, value, key))
    return checks


def test_shared_fixtures_are_present() -> None:
    """The shared pages are where CI expects them (else every fixture test silently vanishes)."""
    assert len(FIXTURES) >= 17, f"no fixtures under {SHARED}; set CREATORSCRAPE_SHARED"


@pytest.mark.parametrize("sidecar", FIXTURES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_fixture_expected_fields(sidecar: Path) -> None:
    """Every field the sidecar's ``expected`` lists is extracted with exactly that value."""
    meta, profile = load(sidecar)
    data = profile.to_dict()
    mismatches = []
    for field, expected, key in expected_pairs(meta):
        actual = data[field]
        if field == "bio" and len(meta["expected"]["bio"]) >= BIO_PREFIX:
            # The sidecar keeps the bio's first 60 characters only.
            actual = normalise_space(actual)[: len(expected)]
        elif field == "bio":
            actual = normalise_space(actual)
        if actual != expected:
            mismatches.append(f"{key}: expected {expected!r}, got {actual!r}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("sidecar", FIXTURES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_fixture_absent_fields_are_empty(sidecar: Path) -> None:
    """Fields noted as missing from the page (``absent_fields``, "ABSENCE:" evidence) are empty."""
    meta, profile = load(sidecar)
    data = profile.to_dict()
    absent = set(meta.get("absent_fields", []))
    absent |= {
        FIELD_ALIASES.get(key, key)
        for key, note in meta.get("evidence", {}).items()
        if isinstance(note, str) and note.startswith("ABSENCE:")
    }
    for field in absent:
        expected = meta["expected"].get(field)
        if expected is None:
            assert data[field] in (None, []), f"{field} should be missing, got {data[field]!r}"
        else:
            # "ABSENCE" of a badge or address still has a definite value (False, []).
            assert data[field] == expected
    for field in COUNT_FIELDS:
        if field not in meta["expected"]:
            assert data[field] is None or data[field] > 0, f"{field} invented as 0"


@pytest.mark.parametrize("sidecar", FIXTURES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_fixture_profile_shape(sidecar: Path) -> None:
    """URLs are absolute, sources name every set field, and no field is an empty string."""
    _, profile = load(sidecar)
    data = profile.to_dict()
    for url in [data["avatar_url"], data["profile_url"], *data["external_links"]]:
        assert url is None or urlsplit(url).scheme in ("http", "https"), url
    for field, value in data.items():
        assert value != "", field
        if field not in ("platform", "sources", "counts_approximate") and value not in (None, []):
            assert data["sources"].get(field), f"no source recorded for {field}"
    assert len(data["external_links"]) == len(set(data["external_links"]))


def test_twitch_shell_yields_only_the_handle() -> None:
    """The 2021 Twitch shell has site-wide og tags only: handle from og:url, nothing invented."""
    _, profile = load(SHARED / "fixtures/creators/twitch/twit-2021-shell.json")
    assert profile.handle == "twit"
    assert profile.profile_url == "https://www.twitch.tv/twit"
    assert profile.display_name is None  # og:title is "Twitch"
    assert profile.bio is None
    assert profile.avatar_url is None
    assert profile.has_data() is False


def test_instagram_logged_in_capture_ignores_the_viewer() -> None:
    """A page saved while logged in as "kikobeats" still describes pluto__travel only."""
    _, profile = load(SHARED / "fixtures/creators/instagram/pluto__travel-2021-loggedin.json")
    assert profile.handle == "pluto__travel"
    assert profile.display_name == "Pluto"
    assert "http://kikobeats.com/" not in profile.external_links
    assert profile.platform_user_id == "3640900328"


def test_x_full_page_does_not_use_generic_og_image() -> None:
    """On full x.com pages og:image is X's generic card; the avatar comes from JSON-LD."""
    _, profile = load(SHARED / "fixtures/creators/x/kikobeats-2025.json")
    assert profile.avatar_url == (
        "https://pbs.twimg.com/profile_images/2000931726244106244/Ty7-KT2j_400x400.jpg"
    )
    assert profile.sources["avatar_url"] == "json-ld"


def test_youtube_2018_ignores_related_channel_counts() -> None:
    """The 2018 header has no counts; related-channel shelves' counts must not leak in."""
    _, profile = load(SHARED / "fixtures/creators/youtube/onemedia-2018.json")
    assert profile.followers is None
    assert profile.posts is None
    assert profile.counts_approximate is False
    assert profile.has_data() is True


def test_personal_page_skips_email_look_alikes() -> None:
    """'vanilla-tilt@1.4.1' (an npm spec) is not an e-mail address."""
    _, profile = load(SHARED / "fixtures/creators/personal/kikobeats.com.json")
    assert profile.emails == []
    assert profile.platform == "web"


LINKTREE_PAGE = """<!DOCTYPE html><html><head>
<title>Ada Example | Linktree</title>
<meta property="og:title" content="Ada Example | Linktree">
<meta property="og:image" content="https://ugc.production.linktr.ee/og-ada.png">
</head><body><div id="__next"></div>
<script id="__NEXT_DATA__" type="application/json">{"props":{"pageProps":{
 "account":{"id":8812345,"uuid":"a1b2","username":"ada.example","pageTitle":"Ada Example",
  "description":"Maker of things.\\nBookings: ada@example.com","isVerified":true,
  "profilePictureUrl":"https://ugc.production.linktr.ee/ada.jpg","tier":"free"},
 "links":[{"id":1,"title":"My shop","url":"https://shop.example.com/ada","type":"CLASSIC"},
  {"id":2,"title":"Podcast","url":"https://pod.example.com","type":"CLASSIC"},
  {"id":3,"title":"Shop again","url":"https://shop.example.com/ada","type":"CLASSIC"}],
 "socialLinks":[{"type":"INSTAGRAM","url":"https://instagram.com/ada.example"},
  {"type":"EMAIL_ADDRESS","url":"mailto:ada@example.com"}]}},
 "page":"/[profile]","query":{"profile":"ada.example"}}</script>
<a href="https://linktr.ee/discover">Discover</a></body></html>"""


def test_linktree_next_data_page() -> None:
    """Linktree's ``__NEXT_DATA__`` account and links become the profile."""
    profile = extract_profile("https://linktr.ee/ada.example", LINKTREE_PAGE)
    assert profile.platform == "linktree"
    assert profile.profile_url == "https://linktr.ee/ada.example"
    assert profile.platform_user_id == "8812345"
    assert profile.handle == "ada.example"
    assert profile.display_name == "Ada Example"
    assert profile.bio == "Maker of things.\nBookings: ada@example.com"
    assert profile.avatar_url == "https://ugc.production.linktr.ee/ada.jpg"
    assert profile.verified is True
    assert profile.external_links == [
        "https://shop.example.com/ada",
        "https://pod.example.com",
        "https://instagram.com/ada.example",
    ]
    assert profile.emails == ["ada@example.com"]
    assert profile.sources["handle"] == "__NEXT_DATA__.account"
    assert profile.has_data() is True


def test_other_link_in_bio_host_lists_outbound_links() -> None:
    """A link-in-bio page without known JSON: OpenGraph plus every outbound link."""
    page = """<html><head><meta property="og:title" content="Bo Sample">
    <meta property="og:description" content="Links below">
    <link rel="canonical" href="https://beacons.ai/bosample"></head><body>
    <a href="/about">about beacons</a><a href="https://www.youtube.com/@bosample">YouTube</a>
    <a href="https://bosample.com">Site</a><a href="mailto:bo@bosample.com">Mail</a>
    </body></html>"""
    profile = extract_profile("https://beacons.ai/bosample", page)
    assert profile.platform == "linkinbio"
    assert profile.display_name == "Bo Sample"
    assert profile.bio == "Links below"
    assert profile.external_links == ["https://www.youtube.com/@bosample", "https://bosample.com"]
    assert profile.emails == ["bo@bosample.com"]
    assert profile.profile_url == "https://beacons.ai/bosample"


YOUTUBE_2024_HEADER = {
    "header": {
        "pageHeaderRenderer": {
            "pageTitle": "Chan Example",
            "content": {
                "pageHeaderViewModel": {
                    "title": {
                        "dynamicTextViewModel": {
                            "text": {
                                "content": "Chan Example",
                                "attachmentRuns": [
                                    {
                                        "element": {
                                            "type": {
                                                "imageType": {
                                                    "image": {
                                                        "sources": [
                                                            {
                                                                "clientResource": {
                                                                    "imageName": (
                                                                        "CHECK_CIRCLE_FILLED"
                                                                    )
                                                                }
                                                            }
                                                        ]
                                                    }
                                                }
                                            }
                                        }
                                    }
                                ],
                            }
                        }
                    },
                    "image": {
                        "decoratedAvatarViewModel": {
                            "avatar": {
                                "avatarViewModel": {
                                    "image": {
                                        "sources": [
                                            {"url": "https://yt3.example/a=s72", "width": 72},
                                            {"url": "https://yt3.example/a=s160", "width": 160},
                                        ]
                                    }
                                }
                            }
                        }
                    },
                    "metadata": {
                        "contentMetadataViewModel": {
                            "metadataRows": [
                                {"metadataParts": [{"text": {"content": "@chanexample"}}]},
                                {
                                    "metadataParts": [
                                        {"text": {"content": "1,2 M de suscriptores"}},
                                        {"text": {"content": "812 vídeos"}},
                                    ]
                                },
                            ]
                        }
                    },
                    "description": {
                        "descriptionPreviewViewModel": {
                            "description": {"content": "Short preview of the channel"}
                        }
                    },
                    "attribution": {
                        "attributionViewModel": {
                            "text": {
                                "content": "chan.example and 2 more links",
                                "commandRuns": [
                                    {
                                        "onTap": {
                                            "innertubeCommand": {
                                                "urlEndpoint": {
                                                    "url": "https://www.youtube.com/redirect?"
                                                    "event=channel_header&q=https%3A%2F%2F"
                                                    "chan.example%2F"
                                                }
                                            }
                                        }
                                    }
                                ],
                            }
                        }
                    },
                }
            },
        }
    },
    "metadata": {
        "channelMetadataRenderer": {
            "title": "Chan Example",
            "description": "Full description. Business: hello@chan.example",
            "externalId": "UCabcdefghijklmnopqrstuv",
            "vanityChannelUrl": "http://www.youtube.com/@chanexample",
        }
    },
}


def test_youtube_2024_page_header_view_model() -> None:
    """The 2024+ pageHeaderViewModel layout (no saved page has it) is read like the c4 one."""
    html = (
        "<html><head></head><body><script>var ytInitialData = "
        + json.dumps(YOUTUBE_2024_HEADER)
        + ";</script></body></html>"
    )
    profile = extract_profile("https://www.youtube.com/@chanexample", html)
    assert profile.platform == "youtube"
    assert profile.platform_user_id == "UCabcdefghijklmnopqrstuv"
    assert profile.profile_url == "https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv"
    assert profile.handle == "chanexample"
    assert profile.display_name == "Chan Example"
    assert profile.bio == "Full description. Business: hello@chan.example"
    assert profile.avatar_url == "https://yt3.example/a=s160"
    assert profile.followers == 1_200_000
    assert profile.posts == 812
    assert profile.counts_approximate is True
    assert profile.verified is True
    assert profile.external_links == ["https://chan.example/"]
    assert profile.emails == ["hello@chan.example"]


def test_tiktok_sigi_state_page() -> None:
    """2021-2023 TikTok pages keep the user in SIGI_STATE.UserModule."""
    state = {
        "UserModule": {
            "users": {
                "tok": {
                    "id": "123",
                    "uniqueId": "tok",
                    "nickname": "Tok Tok",
                    "signature": "hi",
                    "avatarLarger": "https://p16.example/a.jpeg",
                    "verified": False,
                }
            },
            "stats": {
                "tok": {"followerCount": 1500, "followingCount": 3, "heart": 90, "videoCount": 7}
            },
        },
        "UserPage": {"uniqueId": "tok"},
    }
    html = f'<script id="SIGI_STATE" type="application/json">{json.dumps(state)}</script>'
    profile = extract_profile("https://www.tiktok.com/@tok", html)
    assert (profile.platform_user_id, profile.handle, profile.display_name) == (
        "123",
        "tok",
        "Tok Tok",
    )
    assert (profile.followers, profile.following, profile.likes, profile.posts) == (1500, 3, 90, 7)
    assert profile.verified is False
    assert profile.counts_approximate is False


def test_instagram_meta_only_page_in_another_locale() -> None:
    """Logged-out Instagram pages in Spanish: rounded counts are expanded and flagged."""
    html = """<html><head>
    <meta property="og:title" content="Ana B (&#064;ana.b) &#x2022; Fotos y v&#xed;deos de Instagram">
    <meta property="og:description" content="4,69&#xa0;M seguidores, 1.234 seguidos, 56 publicaciones - Ver fotos y v&#xed;deos de Instagram de Ana B (&#064;ana.b)">
    <meta name="description" content='4,69 M seguidores, 1.234 seguidos, 56 publicaciones - Ana B (&#064;ana.b) en Instagram: "Viajes &#x2014; y m&#xe1;s"'>
    <meta property="og:image" content="https://scontent.example/ana.jpg?a=1&amp;b=2">
    <link rel="canonical" href="https://www.instagram.com/ana.b/"></head></html>"""  # noqa: E501
    profile = extract_profile("https://www.instagram.com/ana.b/", html)
    assert profile.handle == "ana.b"
    assert profile.display_name == "Ana B"
    assert profile.bio == "Viajes — y más"
    assert (profile.followers, profile.following, profile.posts) == (4_690_000, 1234, 56)
    assert profile.counts_approximate is True
    assert profile.avatar_url == "https://scontent.example/ana.jpg?a=1&b=2"


def test_telegram_channel_preview_page() -> None:
    """``t.me/s/<name>`` pages: header title, @username and the subscribers counter."""
    html = """<html><head><meta property="og:title" content="News Chan"></head><body>
    <div class="tgme_channel_info"><div class="tgme_channel_info_header">
    <i class="tgme_page_photo_image"><img src="https://cdn4.telesco.pe/file/x.jpg"></i>
    <div class="tgme_channel_info_header_title"><span dir="auto">News Chan</span>
      <i class="verified-icon"></i></div>
    <div class="tgme_channel_info_header_username"><a href="https://t.me/newschan">@newschan</a>
    </div></div>
    <div class="tgme_channel_info_description">Daily news<br/>Contact: desk@news.example</div>
    <div class="tgme_channel_info_counters">
    <div class="tgme_channel_info_counter"><span class="counter_value">12.3K</span>
      <span class="counter_type">subscribers</span></div>
    <div class="tgme_channel_info_counter"><span class="counter_value">2.1K</span>
      <span class="counter_type">photos</span></div></div></div></body></html>"""
    profile = extract_profile("https://t.me/s/newschan", html)
    assert profile.platform == "telegram"
    assert profile.handle == "newschan"
    assert profile.display_name == "News Chan"
    assert profile.verified is True
    assert profile.bio == "Daily news\nContact: desk@news.example"
    assert profile.followers == 12_300
    assert profile.counts_approximate is True
    assert profile.avatar_url == "https://cdn4.telesco.pe/file/x.jpg"
    assert profile.emails == ["desk@news.example"]


def test_generic_json_ld_person_with_relative_urls() -> None:
    """A homepage with a JSON-LD Person: relative image made absolute, sameAs as links."""
    html = """<html><head><link rel="canonical" href="https://jo.example/">
    <script type="application/ld+json">{"@context":"https://schema.org","@graph":[
     {"@type":"WebSite","name":"Jo's site"},
     {"@type":"Person","name":"Jo Doe","alternateName":"jodoe","image":"/me.png",
      "description":"Writer.","sameAs":["https://github.com/jodoe","/feed"],
      "email":"mailto:jo@jo.example"}]}</script></head>
    <body><a rel="me" href="https://mastodon.example/@jo">Mastodon</a>
    <p>Write to jo@jo.example or press@jo.example (not logo@2x.png)</p></body></html>"""
    profile = extract_profile("https://jo.example/about", html)
    assert profile.platform == "web"
    assert profile.profile_url == "https://jo.example/"
    assert profile.display_name == "Jo Doe"
    assert profile.handle == "jodoe"
    assert profile.bio == "Writer."
    assert profile.avatar_url == "https://jo.example/me.png"
    assert profile.external_links == [
        "https://github.com/jodoe",
        "https://jo.example/feed",
        "https://mastodon.example/@jo",
    ]
    assert profile.emails == ["jo@jo.example", "press@jo.example"]


def test_unknown_url_is_recognised_from_the_page() -> None:
    """Without a URL, Telegram's markup still selects the Telegram extractor."""
    sidecar = SHARED / "fixtures/creators/telegram/unlimitedhangout.json"
    html = sidecar.with_suffix(".html").read_text(encoding="utf-8")
    profile = extract_profile("", html)
    assert profile.platform == "telegram"
    assert profile.profile_url == "https://t.me/unlimitedhangout"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/@x",
        "https://www.tiktok.com/@x",
        "https://www.instagram.com/x/",
        "https://x.com/x",
        "https://bsky.app/profile/x.bsky.social",
        "https://www.twitch.tv/x",
        "https://t.me/x",
        "https://x.substack.com/",
        "https://linktr.ee/x",
        "https://example.com/",
    ],
)
@pytest.mark.parametrize("html", ["", "<html><head></head><body>blocked</body></html>", "{oops"])
def test_empty_or_blocked_pages_give_empty_shells(url: str, html: str) -> None:
    """Login walls and empty bodies give a profile without data, never an exception."""
    profile = extract_profile(url, html)
    assert profile.has_data() is False
    assert profile.followers is None
    assert profile.external_links == []


def test_model_serialisation_and_openapi_descriptions() -> None:
    """``to_dict`` is JSON-ready and every field is described for the OpenAPI document."""
    profile = CreatorProfile(platform="web", followers=3, counts_approximate=True)
    data = profile.to_dict()
    assert data["followers"] == 3
    assert data["external_links"] == []
    assert data["emails"] == []
    assert data["bio"] is None
    assert profile.has_data() is True
    assert (
        CreatorProfile(platform="x", handle="a", profile_url="https://x.com/a").has_data() is False
    )
    schema = CreatorProfile.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values())
