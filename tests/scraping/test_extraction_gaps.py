"""Extraction gaps of issue 13, on real pages found for it (tests/fixtures/pages/README.md)."""

from __future__ import annotations

from pathlib import Path

from app.scraping import extract_profile
from app.scraping.extractors.base import Page
from tests.fixture_server import FIXTURES as SHARED

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"


def read(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def test_head_link_elements_give_emails():
    page = Page("https://ascraeus.org/", read("ascraeus.org.html"))
    assert page.head_emails() == ["dgold@ascraeus.org"]
    page = Page("https://adactio.com/links", read("adactio.com-links.html"))
    assert page.head_emails() == ["jeremy@adactio.com"]


def head_only(html: str) -> str:
    """The page cut after its head: the e-mail and rel=me links are then only in <link>s."""
    return html[: html.index("</head>") + len("</head>")] + "<body></body></html>"


def test_emails_and_rel_me_given_only_in_the_head_are_read():
    # Derived: the real page without its body (which repeats the address in an h-card).
    profile = extract_profile("https://ascraeus.org/", head_only(read("ascraeus.org.html")))
    assert profile.emails == ["dgold@ascraeus.org"]
    assert profile.sources["emails"] == "link"
    assert "https://micro.blog/dgold" in profile.external_links


def test_link_mailto_next_to_non_web_rel_me_links():
    html = head_only(read("adactio.com-links.html"))
    profile = extract_profile("https://adactio.com/links", html)
    assert profile.emails == ["jeremy@adactio.com"]
    assert not any(link.startswith(("sms:", "ni:")) for link in profile.external_links)
    full = extract_profile("https://adactio.com/links", read("adactio.com-links.html"))
    assert full.emails == ["jeremy@adactio.com"]  # once, though in the head and the h-card


def test_substack_post_page_gives_the_authors_links_and_publication():
    url = "https://map.simonsarris.com/p/the-most-precious-resource-is-agency"
    profile = extract_profile(url, read("substack-post-simonsarris.html"))
    assert profile.platform == "substack"
    assert (profile.handle, profile.display_name) == ("simonsarris", "Simon Sarris")
    assert profile.publication_name == "The Map is Mostly Water"
    assert profile.external_links == ["https://twitter.com/simonsarris"]
    assert "json-ld author" in profile.sources["external_links"]
    assert profile.profile_url == "https://map.simonsarris.com"


def test_x_profile_page_with_the_person_under_author():
    # Derived from the shared real page: X's 2023-2024 markup put the ProfilePage's person
    # under "author" instead of "mainEntity"; the key is renamed here to reproduce it.
    html = (SHARED / "x" / "kikobeats-2025.html").read_text(encoding="utf-8")
    assert html.count('"mainEntity":{"@type":"Person"') == 1
    html = html.replace('"mainEntity":{"@type":"Person"', '"author":{"@type":"Person"')
    profile = extract_profile("https://x.com/Kikobeats", html)
    assert profile.handle == "Kikobeats"
    assert isinstance(profile.followers, int) and profile.followers > 0
    assert profile.sources["followers"] == "json-ld"
