"""Mastodon and the fediverse: WebFinger, then ``GET /api/v1/accounts/lookup``
(source ``mastodon_api``). No credentials.

For ``@user@domain`` (or a profile URL ``https://server/@user``, ``/@user@domain``,
``/users/user``):

1. ``GET https://<domain>/.well-known/webfinger?resource=acct:<user>@<domain>`` (RFC 7033):
   the ``self`` link (``application/activity+json``) names the server that hosts the account,
   which may differ from the domain in the address. When WebFinger fails the domain itself is
   asked;
2. ``GET https://<server>/api/v1/accounts/lookup?acct=<user>@<domain>`` (Mastodon 3.4+, and
   servers implementing its API): an ``Account``.

The servers are user-supplied hosts, so every request goes through the fetcher's address guard
like any URL (public addresses only, checked at connect time, redirects checked again).

Fields: platform_user_id ``id`` (the server's account id); handle ``user@domain``;
display_name ``display_name`` (else ``username``); bio ``note`` (HTML, turned into plain text:
paragraphs and ``<br>`` become line breaks); avatar_url ``avatar``; followers / following /
posts ``followers_count`` / ``following_count`` / ``statuses_count`` (exact); external_links:
the links in the profile ``fields`` (their HTML ``href``\\s, or a bare URL value), then links in
the note that are not mentions or hashtags; emails: addresses in the note and fields.

A 404 ``{"error": "Record not found"}`` (and a 410, or a ``suspended`` account) means no such
account; a 404 that is not JSON means the server does not speak Mastodon's API (the chain goes
on to the page); 401/403 (a server in limited-federation mode) are refusals.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import lxml.html

from app.scraping.extractors.base import clean_text, find_emails, find_urls
from app.scraping.fetch import FetchedResponse
from app.scraping.models import CreatorProfile
from app.scraping.sources.base import (
    Client,
    Credentials,
    Kind,
    Source,
    SourceFailed,
    Target,
    builder,
    finish,
    json_body,
    status_failure,
)
from app.scraping.urls import mastodon_account

NAME = "mastodon_api"
_BLOCKS = {"p", "div", "li", "blockquote"}


def html_to_text(markup: str | None) -> str | None:
    """Plain text of a Mastodon HTML fragment: paragraphs separated by a blank line, ``<br>``
    as a line break, the hidden ``invisible`` spans of shortened links kept (pure)."""
    if not markup or not markup.strip():
        return None
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ValueError, lxml.etree.LxmlError):
        return clean_text(markup)
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    paragraphs = []
    blocks = [el for el in root if isinstance(el.tag, str) and el.tag in _BLOCKS]
    if blocks:
        for block in blocks:
            text = block.text_content().strip()
            if text:
                paragraphs.append(text)
    else:
        paragraphs.append(root.text_content().strip())
    return clean_text("\n\n".join(paragraphs))


def links_in(markup: str | None, mentions: bool = True) -> list[str]:
    """The ``href`` of every link in an HTML fragment except hashtags, and except mentions of
    other accounts unless ``mentions`` (profile fields often list the owner's other accounts as
    mentions; in a note they name other people). A value without markup gives its bare URLs."""
    if not markup or "<a" not in markup:
        return find_urls(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ValueError, lxml.etree.LxmlError):
        return []
    urls = []
    for anchor in root.iter("a"):
        classes = set((anchor.get("class") or "").split())
        if "hashtag" in classes or ("mention" in classes and not mentions):
            continue
        if anchor.get("href"):
            urls.append(anchor.get("href"))
    return urls


def webfinger_url(user: str, domain: str) -> str:
    """The WebFinger URL for ``user@domain`` (pure)."""
    query = urlencode({"resource": f"acct:{user}@{domain}"})
    return f"https://{domain}/.well-known/webfinger?{query}"


def server_of(jrd: Any) -> str | None:
    """The host of the account's ActivityPub ``self`` link in a WebFinger answer (pure)."""
    links = jrd.get("links") if isinstance(jrd, dict) else None
    for link in links or []:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        if "activity+json" in str(link.get("type")) or "ld+json" in str(link.get("type")):
            host = urlsplit(str(link.get("href") or "")).hostname
            if host:
                return host.lower()
    return None


def lookup_url(server: str, user: str, domain: str) -> str:
    """The accounts/lookup URL on ``server`` (pure)."""
    acct = user if server == domain else f"{user}@{domain}"
    return f"https://{server}/api/v1/accounts/lookup?{urlencode({'acct': acct})}"


def error_of(response: FetchedResponse) -> SourceFailed:
    """The failure a lookup error means (pure)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if response.status in (404, 410) and not isinstance(body, dict):
        return SourceFailed(Kind.UNSUPPORTED, "not_mastodon_api")
    if response.status in (404, 410):
        return SourceFailed(Kind.NOT_FOUND, "record_not_found")
    return status_failure(response.status)


def parse(body: Any, domain: str | None = None) -> CreatorProfile:
    """A Mastodon ``Account`` as a profile (pure). ``domain`` completes a local ``acct``."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise SourceFailed(Kind.BROKEN, "malformed_body")
    if body.get("suspended"):
        raise SourceFailed(Kind.NOT_FOUND, "suspended")
    profile = builder("mastodon", str(body.get("url") or ""))
    acct = str(body.get("acct") or body.get("username") or "")
    if acct and "@" not in acct:
        host = domain or urlsplit(str(body.get("url") or "")).hostname
        acct = f"{acct}@{host}" if host else acct
    profile.set("platform_user_id", body.get("id"), NAME)
    profile.set("handle", acct or None, NAME)
    profile.set("display_name", clean_text(body.get("display_name")) or body.get("username"), NAME)
    profile.set("bio", html_to_text(body.get("note")), NAME)
    profile.set("avatar_url", body.get("avatar"), NAME)
    profile.set_count("followers", body.get("followers_count"), NAME)
    profile.set_count("following", body.get("following_count"), NAME)
    profile.set_count("posts", body.get("statuses_count"), NAME)
    fields = [f for f in body.get("fields") or [] if isinstance(f, dict)]
    for field in fields:
        profile.add_links(links_in(field.get("value")), NAME)
    profile.add_links(links_in(body.get("note"), mentions=False), NAME)
    texts = [profile.get("bio"), *(html_to_text(f.get("value")) for f in fields)]
    profile.add_emails([e for text in texts for e in find_emails(text)], NAME)
    return finish(profile, body.get("url") if isinstance(body.get("url"), str) else None, NAME)


class MastodonApi(Source):
    """WebFinger + Mastodon's account lookup on the account's own server."""

    name = NAME
    platform = "mastodon"
    endpoint = (
        "GET https://<domain>/.well-known/webfinger, then "
        "GET https://<server>/api/v1/accounts/lookup"
    )
    fields = {
        "platform_user_id": "exact",
        "handle": "exact",
        "display_name": "exact",
        "bio": "exact",
        "avatar_url": "exact",
        "followers": "exact",
        "following": "exact",
        "posts": "exact",
        "external_links": "exact",
        "emails": "exact",
    }

    def fetch(self, target: Target, client: Client, credentials: Credentials) -> CreatorProfile:
        """WebFinger (optional), then accounts/lookup; raises ``SourceFailed``."""
        account = mastodon_account(target.url)
        if account is None:
            raise SourceFailed(Kind.UNSUPPORTED, "not_a_fediverse_url")
        user, domain = account
        server = domain
        try:
            finger = client.request(
                webfinger_url(user, domain), headers={"Accept": "application/jrd+json"}
            )
            if finger.status == 200:
                server = server_of(json_body(finger)) or domain
        except SourceFailed as failure:
            if failure.kind in (Kind.NOT_ALLOWED, Kind.DEADLINE):
                raise
        response = client.request(lookup_url(server, user, domain))
        if response.status != 200:
            raise error_of(response)
        return parse(json_body(response), domain)
