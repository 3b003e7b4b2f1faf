"""Shared tools for extractors: a lazily parsed page and a profile builder.

Big profile pages (YouTube, TikTok, Instagram: 0.3-1.3 MB) carry their data in one embedded
JSON blob, so :class:`Page` finds things with targeted string/regex searches and parses only what
is asked for; an lxml DOM is built only when an extractor needs one (small pages, fallbacks).
"""

import html as html_lib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from urllib.parse import SplitResult, parse_qs, urljoin, urlsplit

import json5
import lxml.html

from app.scraping.counts import parse_count
from app.scraping.models import CreatorProfile, Platform

logger = logging.getLogger(__name__)

# Case-sensitive search is twice as fast; upper-case tags are looked for only when none is found.
_META_RE = re.compile(r"<meta\s[^>]*>")
_META_ANY_CASE_RE = re.compile(r"<meta\s[^>]*>", re.IGNORECASE)
_LINK_RE = re.compile(r"<link\s[^>]*>", re.IGNORECASE)
_ATTR_RE = re.compile(r"""([^\s=/>"']+)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.([A-Za-z]{2,24})\b"
)
_NOT_EMAIL_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "js", "css"})
_URL_IN_TEXT_RE = re.compile(r"""https?://[^\s<>"'\]\[)(]+""")
_SPACE_RE = re.compile(r"\s+")
_JSON_DECODER = json.JSONDecoder(strict=False)
_INVISIBLE = frozenset({"script", "style", "template", "noscript"})
_BARE_HOST_RE = re.compile(r"[\w-]+(?:\.[\w-]+)*\.([a-z]{2,24})(?:[/:?#]|$)", re.IGNORECASE)
_FILE_SUFFIXES = frozenset(
    {"jpg", "jpeg", "png", "gif", "webp", "svg", "ico", "html", "htm", "php"}
)
# json5 is pure Python: blocks bigger than this are not worth a lenient second try.
_LENIENT_MAX_CHARS = 200_000
_TEXT_FIELDS = frozenset(
    {
        "profile_url",
        "platform_user_id",
        "handle",
        "display_name",
        "publication_name",
        "bio",
        "avatar_url",
        "category",
    }
)
_BOOL_FIELDS = frozenset({"verified", "is_business_account"})


@contextmanager
def tolerant(source: str) -> Iterator[None]:
    """Run one source's reading so that malformed data there cannot lose the other sources.

    Pages are arbitrary input: a JSON blob of an unexpected shape raises ``AttributeError``,
    ``TypeError``... inside the block; the block is abandoned (values it already set are kept)
    and extraction goes on with the next source.

    Args:
        source (str): name of the source, for the debug log.

    Returns:
        Iterator[None]: a context manager.
    """
    try:
        yield
    except Exception:
        logger.debug("skipped malformed page source %s", source, exc_info=True)


def safe_split(url: str | None) -> SplitResult:
    """Split a URL, treating malformed ones (``http://[oops``) as empty.

    Args:
        url (str | None): URL text.

    Returns:
        SplitResult: the parts (all empty when the URL cannot be split).
    """
    try:
        return urlsplit(url or "")
    except ValueError:
        return urlsplit("")


def clean_text(value: Any) -> str | None:
    """Strip a text value; empty or non-string values become None.

    Args:
        value (Any): candidate text.

    Returns:
        str | None: the stripped string, or None.
    """
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def unescape(value: str | None) -> str | None:
    """Decode HTML entities (``&#064;`` -> ``@``) in an attribute or text value.

    Args:
        value (str | None): raw attribute value.

    Returns:
        str | None: decoded value.
    """
    return html_lib.unescape(value) if value else value


def parse_attrs(tag: str) -> dict[str, str]:
    """Parse the attributes of one HTML start tag (names lower-cased, entities decoded).

    Args:
        tag (str): the tag text, e.g. ``'<meta property="og:title" content="x">'``.

    Returns:
        dict[str, str]: attribute name -> decoded value (first occurrence wins).
    """
    attrs: dict[str, str] = {}
    inner = tag[1:-1]
    name_end = 0
    while name_end < len(inner) and not inner[name_end].isspace():
        name_end += 1
    for match in _ATTR_RE.finditer(inner, name_end):
        name, raw = match.group(1).lower(), match.group(2)
        if raw is None:
            value = ""
        elif raw[:1] in "\"'":
            value = raw[1:-1]
        else:
            value = raw
        attrs.setdefault(name, html_lib.unescape(value))
    return attrs


def absolute_url(value: str | None, base: str | None) -> str | None:
    """Make a URL absolute against the page URL; scheme-less hosts get ``https://``.

    Args:
        value (str | None): URL as written in the page ("/a.jpg", "//cdn/x", "twitch.tv/x").
        base (str | None): URL of the page.

    Returns:
        str | None: absolute http(s) URL, or None for empty/non-web values (mailto:, tg:, js).
    """
    value = clean_text(value)
    if not value:
        return None
    try:
        scheme = urlsplit(value).scheme.lower()
        if base is not None:
            urlsplit(base)
    except ValueError:
        return None
    if scheme in ("http", "https"):
        return value
    if scheme and not re.fullmatch(r"[\w.-]+\.[a-z]{2,}", value.split("/")[0].lower()):
        return None
    if value.startswith("//"):
        return "https:" + value
    bare_host = _BARE_HOST_RE.match(value)
    if bare_host and bare_host.group(1).lower() not in _FILE_SUFFIXES:
        # "twitch.tv/illojuan": a bare host typed by the creator, not a relative path.
        return "https://" + value
    if base and urlsplit(base).scheme in ("http", "https"):
        try:
            return urljoin(base, value)
        except ValueError:
            return None
    return None


def unwrap_redirect(url: str) -> str:
    """Return the target of a platform redirect link (``youtube.com/redirect?q=``, ``l.instagram``).

    Args:
        url (str): absolute URL.

    Returns:
        str: the destination URL, or ``url`` unchanged.
    """
    parts = safe_split(url)
    host = parts.netloc.lower()
    if parts.path.rstrip("/") in ("/redirect", "/l.php") or host.startswith("l."):
        query = parse_qs(parts.query)
        for key in ("q", "u", "url"):
            if query.get(key):
                return query[key][0]
    return url


def find_emails(text: str | None) -> list[str]:
    """Find e-mail addresses in free text, skipping look-alikes such as ``logo@2x.png``.

    Args:
        text (str | None): text to scan.

    Returns:
        list[str]: addresses in order of appearance.
    """
    if not text:
        return []
    return [
        match.group(0)
        for match in _EMAIL_RE.finditer(text)
        if match.group(1).lower() not in _NOT_EMAIL_TLDS
    ]


def find_urls(text: str | None) -> list[str]:
    """Find http(s) URLs written in free text (e.g. a bio).

    Args:
        text (str | None): text to scan.

    Returns:
        list[str]: URLs in order, trailing punctuation removed.
    """
    if not text:
        return []
    return [match.group(0).rstrip(".,;:!?") for match in _URL_IN_TEXT_RE.finditer(text)]


def load_json_at(text: str, start: int) -> Any:
    """Decode the JSON value (or JS string literal holding JSON) starting at ``text[start]``.

    Handles ``{...}``/``[...]``, ``"..."``/``'...'`` string literals whose content is JSON
    (``var ytInitialData = '\\x7b...'``) and ``JSON.parse("...")`` calls.

    Args:
        text (str): the page.
        start (int): index of the first character of the value (leading spaces allowed).

    Returns:
        Any: the decoded value, or None when nothing decodable is there.
    """
    while start < len(text) and text[start].isspace():
        start += 1
    if text.startswith("JSON.parse(", start):
        start += len("JSON.parse(")
    quote = text[start : start + 1]
    try:
        if quote in ("{", "["):
            return _JSON_DECODER.raw_decode(text, start)[0]
        if quote == '"':
            inner = _JSON_DECODER.raw_decode(text, start)[0]
            return _JSON_DECODER.decode(inner)
        if quote == "'":
            end = start + 1
            while end < len(text) and text[end] != "'":
                end += 2 if text[end] == "\\" else 1
            literal = text[start + 1 : end]
            literal = re.sub(r"\\x([0-9a-fA-F]{2})", r"\\u00\1", literal).replace("\\'", "'")
            literal = literal.replace('"', '\\"')
            return _JSON_DECODER.decode(_JSON_DECODER.decode(f'"{literal}"'))
    except (ValueError, RecursionError):
        return None
    return None


def load_lenient_json(text: str) -> Any:
    """Decode JSON that pages get slightly wrong (raw newlines in strings, trailing commas).

    Args:
        text (str): JSON text.

    Returns:
        Any: decoded value, or None if it is not JSON even leniently.
    """
    try:
        return _JSON_DECODER.decode(text.strip())
    except (ValueError, RecursionError):
        pass
    if len(text) > _LENIENT_MAX_CHARS:
        return None
    try:
        return json5.loads(text)
    except Exception:
        return None


def dig(data: Any, *path: str | int) -> Any:
    """Follow keys/indexes into nested JSON, returning None as soon as one is missing.

    Args:
        data (Any): decoded JSON.
        *path (str | int): keys and list indexes.

    Returns:
        Any: the value found, or None.
    """
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
        elif not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def walk(data: Any, key: str) -> Iterator[Any]:
    """Yield every value stored under ``key`` anywhere inside nested JSON.

    Args:
        data (Any): decoded JSON.
        key (str): dictionary key to look for.

    Returns:
        Iterator[Any]: the values, depth-first in document order.
    """
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if key in node:
                yield node[key]
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


class Page:
    """One saved page with lazily computed views (meta tags, JSON-LD, DOM...)."""

    def __init__(self, url: str, html: str) -> None:
        """Wrap a page.

        Args:
            url (str): URL the page was fetched from ("" if unknown).
            html (str): the page's HTML.
        """
        self.url = url if isinstance(url, str) else ""
        self.html = html if isinstance(html, str) else ""
        parts = safe_split(self.url)
        try:
            hostname = parts.hostname
        except ValueError:
            hostname = None
        self.host = (hostname or "").lower()
        self.path = parts.path

    @cached_property
    def head(self) -> str:
        """str: the document up to ``</head>`` (whole page if there is none)."""
        end = self.html.find("</head>")
        if end < 0:
            end = self.html.find("</HEAD>")
        return self.html if end < 0 else self.html[:end]

    @cached_property
    def meta(self) -> dict[str, str]:
        """dict[str, str]: ``<meta>`` values by lower-cased property/name/itemprop (first wins)."""
        values: dict[str, str] = {}
        tags = [match.group(0) for match in _META_RE.finditer(self.html)]
        if not tags:
            tags = [match.group(0) for match in _META_ANY_CASE_RE.finditer(self.html)]
        for tag in tags:
            attrs = parse_attrs(tag)
            key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
            value = attrs.get("content", attrs.get("value"))
            if key and value is not None:
                values.setdefault(key.lower(), value)
        return values

    def meta_text(self, *keys: str) -> str | None:
        """Return the first non-empty meta value among ``keys``.

        Args:
            *keys (str): meta property/name keys, e.g. ``"og:title"``.

        Returns:
            str | None: the value, stripped.
        """
        for key in keys:
            value = clean_text(self.meta.get(key))
            if value:
                return value
        return None

    @cached_property
    def links(self) -> list[dict[str, str]]:
        """list[dict[str, str]]: attributes of every ``<link>`` tag in the head."""
        return [parse_attrs(match.group(0)) for match in _LINK_RE.finditer(self.head)]

    @cached_property
    def canonical(self) -> str | None:
        """str | None: absolute ``<link rel=canonical>``, else ``og:url``."""
        for attrs in self.links:
            if "canonical" in attrs.get("rel", "").lower().split():
                url = absolute_url(attrs.get("href"), self.url)
                if url:
                    return url
        return absolute_url(self.meta.get("og:url"), self.url)

    @cached_property
    def title(self) -> str | None:
        """str | None: text of ``<title>``."""
        match = _TITLE_RE.search(self.head)
        return clean_text(unescape(match.group(1))) if match else None

    def script_json(self, script_id: str) -> Any:
        """Decode the JSON inside ``<script id="...">`` (found by string search).

        Args:
            script_id (str): the script element's id, e.g. ``"__NEXT_DATA__"``.

        Returns:
            Any: decoded JSON, or None if absent or invalid.
        """
        match = re.search(rf"<script[^>]*\bid=[\"']?{re.escape(script_id)}[\"']?[^>]*>", self.html)
        if not match:
            return None
        return load_json_at(self.html, match.end())

    def assigned_json(self, pattern: str) -> Any:
        """Decode the JSON assigned by JavaScript, e.g. ``window._sharedData = {...}``.

        Args:
            pattern (str): regex matching up to and including the ``=``.

        Returns:
            Any: the first decodable value, or None.
        """
        for match in re.finditer(pattern, self.html):
            value = load_json_at(self.html, match.end())
            if value is not None:
                return value
        return None

    @cached_property
    def json_ld(self) -> list[dict[str, Any]]:
        """list[dict]: every JSON-LD node in the page, ``@graph`` and lists flattened."""
        nodes: list[dict[str, Any]] = []
        if "ld+json" not in self.html:
            return nodes
        for match in _SCRIPT_RE.finditer(self.html):
            if "ld+json" not in match.group(1).lower():
                continue
            data = load_lenient_json(match.group(2))
            stack = data if isinstance(data, list) else [data]
            for node in stack:
                if isinstance(node, dict):
                    nodes.append(node)
                    graph = node.get("@graph")
                    if isinstance(graph, list):
                        nodes.extend(item for item in graph if isinstance(item, dict))
        return nodes

    @cached_property
    def dom(self) -> lxml.html.HtmlElement | None:
        """lxml.html.HtmlElement | None: the parsed document (built on first use)."""
        if not self.html.strip():
            return None
        try:
            return lxml.html.document_fromstring(self.html)
        except (ValueError, lxml.etree.LxmlError):
            return None

    def rel_me(self) -> list[str]:
        """Return the absolute URLs of ``<a rel="me">``/``<link rel="me">`` (no mailto).

        Returns:
            list[str]: URLs in document order.
        """
        if self.dom is None or "me" not in self.html:
            return []
        urls = []
        for element in self.dom.iterfind(".//*[@rel]"):
            if element.tag in ("a", "link") and "me" in element.get("rel", "").lower().split():
                url = absolute_url(element.get("href"), self.url)
                if url:
                    urls.append(url)
        return urls

    def head_emails(self) -> list[str]:
        """Return the addresses of ``mailto:`` links in the head's ``<link>`` elements
        (``<link rel="me" href="mailto:...">``, ``<link rev="made" href="mailto:...">``).

        Returns:
            list[str]: addresses (``mailto:`` and query removed) in document order.
        """
        emails = []
        for attrs in self.links:
            href = attrs.get("href", "").strip()
            if href.lower().startswith("mailto:"):
                address = href[len("mailto:") :].split("?")[0].strip()
                if "@" in address:
                    emails.append(address)
        return emails

    def visible_text(self) -> str:
        """Return the page's text without scripts, styles and templates.

        Returns:
            str: text content of the body (may be empty).
        """
        if self.dom is None:
            return ""
        body = self.dom.find("body")
        root = body if body is not None else self.dom
        parts: list[str] = []
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag not in _INVISIBLE and element.text:
                parts.append(element.text)
            if element is not root and element.tail:
                parts.append(element.tail)
        return " ".join(parts)


def has_class(class_name: str) -> str:
    """Return an XPath predicate matching elements whose class list contains ``class_name``.

    Args:
        class_name (str): CSS class.

    Returns:
        str: predicate usable inside ``[...]``.
    """
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {class_name} ')"


def element_text(element: lxml.html.HtmlElement | None) -> str | None:
    """Return an element's text with ``<br>`` as newlines, whitespace runs collapsed per line.

    Args:
        element (lxml.html.HtmlElement | None): element.

    Returns:
        str | None: the text, or None if empty.
    """
    if element is None:
        return None
    pieces: list[str] = []
    if element.text:
        pieces.append(element.text)
    for child in element.iterdescendants():
        if child.tag == "br":
            pieces.append("\n")
        elif isinstance(child.tag, str) and child.text:
            pieces.append(child.text)
        if child.tail:
            pieces.append(child.tail)
    lines = [_SPACE_RE.sub(" ", line).strip() for line in "".join(pieces).split("\n")]
    return clean_text("\n".join(lines))


class ProfileBuilder:
    """Collects field values in order of preference and builds a :class:`CreatorProfile`.

    The first non-empty value set for a field wins, so extractors call :meth:`set` from the
    preferred source to the fallback; ``sources`` records where each kept value came from.
    """

    def __init__(self, platform: Platform, page: Page) -> None:
        """Start a profile.

        Args:
            platform (Platform): platform name.
            page (Page): the page being read (its URL resolves relative links).
        """
        self.platform = platform
        self.page = page
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.approximate = False
        self.links: list[str] = []
        self.link_sources: list[str] = []
        self.emails: list[str] = []
        self.email_sources: list[str] = []

    def has(self, field: str) -> bool:
        """Tell whether ``field`` already has a value.

        Args:
            field (str): field name.

        Returns:
            bool: True if set.
        """
        return field in self.values

    def get(self, field: str) -> Any:
        """Return the value kept for ``field`` (None if unset).

        Args:
            field (str): field name.

        Returns:
            Any: the value.
        """
        return self.values.get(field)

    def set(self, field: str, value: Any, source: str) -> None:
        """Keep ``value`` for ``field`` unless it is empty or the field is already set.

        Strings are stripped; URLs fields (``avatar_url``, ``profile_url``) are made absolute;
        ``handle`` loses a leading ``@``.

        Args:
            field (str): CreatorProfile field.
            value (Any): candidate value.
            source (str): where in the page it came from.
        """
        if field in self.values or value is None:
            return
        if field in _BOOL_FIELDS and not isinstance(value, bool):
            return
        if field == "platform_user_id" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if field in _TEXT_FIELDS and not isinstance(value, str):
            return
        if isinstance(value, str):
            value = value.strip()
            if field in ("avatar_url", "profile_url"):
                value = absolute_url(value, self.page.url)
            elif field == "handle":
                value = value.lstrip("@").strip() or None
            elif field == "bio":
                # Meta tags indent continuation lines; keep the line breaks, not the indent.
                value = "\n".join(line.strip() for line in value.splitlines()).strip()
            if not value:
                return
        self.values[field] = value
        self.sources[field] = source

    def set_count(self, field: str, value: Any, source: str) -> None:
        """Keep a count given as an int or as page text ("4,69 M de suscriptores").

        Args:
            field (str): followers, following, posts or likes.
            value (Any): int, numeric string or display text.
            source (str): where in the page it came from.
        """
        if field in self.values or value is None or isinstance(value, bool):
            return
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        parsed = parse_count(value) if isinstance(value, (int, str)) else None
        if parsed is None:
            return
        number, approximate = parsed
        self.values[field] = number
        self.sources[field] = source
        self.approximate = self.approximate or approximate

    def add_links(self, urls: Iterable[str | None], source: str) -> None:
        """Append external links (made absolute, redirects unwrapped, duplicates dropped).

        Args:
            urls (Iterable[str | None]): URLs as written in the page.
            source (str): where in the page they came from.
        """
        added = False
        for url in urls:
            absolute = absolute_url(url, self.page.url)
            if not absolute:
                continue
            absolute = unwrap_redirect(absolute)
            if absolute not in self.links:
                self.links.append(absolute)
                added = True
        if added and source not in self.link_sources:
            self.link_sources.append(source)

    def add_emails(self, emails: Iterable[str | None], source: str) -> None:
        """Append e-mail addresses (``mailto:`` and query strings removed, case-insensitive dedupe).

        Args:
            emails (Iterable[str | None]): addresses or mailto: URLs.
            source (str): where in the page they came from.
        """
        added = False
        known = {email.lower() for email in self.emails}
        for email in emails:
            email = clean_text(email)
            if not email:
                continue
            if email.lower().startswith("mailto:"):
                email = email[len("mailto:") :].split("?")[0].strip()
            if "@" not in email or email.lower() in known:
                continue
            self.emails.append(email)
            known.add(email.lower())
            added = True
        if added and source not in self.email_sources:
            self.email_sources.append(source)

    def build(self, profile_url: str | None = None) -> CreatorProfile:
        """Build the profile.

        Args:
            profile_url (str | None): canonical profile URL, if the extractor derived one;
                defaults to the page's canonical URL, then the request URL.

        Returns:
            CreatorProfile: the profile.
        """
        self.set("profile_url", profile_url, "platform")
        self.set("profile_url", self.page.canonical, "canonical")
        self.set("profile_url", self.page.url, "request-url")
        sources = dict(self.sources)
        if self.links:
            sources["external_links"] = ", ".join(self.link_sources)
        if self.emails:
            sources["emails"] = ", ".join(self.email_sources)
        return CreatorProfile(
            platform=self.platform,
            external_links=self.links,
            emails=self.emails,
            counts_approximate=self.approximate,
            sources=sources,
            **self.values,
        )


def schema_types(node: dict[str, Any]) -> set[str]:
    """Return a JSON-LD node's ``@type`` values without the schema.org prefix.

    Args:
        node (dict[str, Any]): JSON-LD node.

    Returns:
        set[str]: type names, e.g. ``{"Person"}``.
    """
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    return {str(item).rsplit("/", 1)[-1] for item in values if item}


def interaction_counts(node: dict[str, Any], key: str) -> dict[str, int]:
    """Read a schema.org ``interactionStatistic``-style list as {action: count}.

    Args:
        node (dict[str, Any]): JSON-LD node (Person, ProfilePage...).
        key (str): ``"interactionStatistic"`` or ``"agentInteractionStatistic"``.

    Returns:
        dict[str, int]: e.g. ``{"FollowAction": 1101177, "WriteAction": 329}``.
    """
    stats = node.get(key)
    if isinstance(stats, dict):
        stats = [stats]
    counts: dict[str, int] = {}
    for stat in stats if isinstance(stats, list) else []:
        if not isinstance(stat, dict):
            continue
        action = str(stat.get("interactionType") or "")
        if isinstance(stat.get("interactionType"), dict):
            action = str(stat["interactionType"].get("@type") or "")
        action = action.rsplit("/", 1)[-1]
        parsed = parse_count(stat.get("userInteractionCount"))
        if action and parsed is not None:
            counts.setdefault(action, parsed[0])
    return counts


def schema_image(value: Any) -> str | None:
    """Return the URL of a schema.org ``image`` (string, ImageObject or list of them).

    Args:
        value (Any): the ``image`` value.

    Returns:
        str | None: URL as written.
    """
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("contentUrl") or value.get("url")
    return clean_text(value)


def as_list(value: Any) -> list[Any]:
    """Wrap a single JSON value in a list (None gives an empty list).

    Args:
        value (Any): value or list.

    Returns:
        list[Any]: list of values.
    """
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
