"""YouTube channel pages (``youtube.com/@handle``, ``/channel/UC...``, ``/c/...``, ``/user/...``).

Page data read: the ``ytInitialData`` JSON assigned in a script (``var ytInitialData = {...}``,
``window["ytInitialData"] = {...}`` or a ``'\\x7b...'`` string literal). Three parts of it:

- ``header``: the old ``c4TabbedHeaderRenderer`` (2017-2024) or the new
  ``pageHeaderRenderer.content.pageHeaderViewModel`` view models (2024-);
- ``metadata.channelMetadataRenderer``: title, full description, avatar, external id;
- ``microformat.microformatDataRenderer``: canonical URL, title, description, thumbnail.

Fields:

- platform_user_id: header ``channelId``, else ``channelMetadataRenderer.externalId``, else the
  ``/channel/UC...`` canonical URL.
- handle: c4 ``channelHandleText``, the ``@...`` part of the view-model metadata rows, the
  ``/@...`` vanity/canonical-base URL, else the ``/@...`` request URL. Legacy ``/c/`` and
  ``/user/`` names are not handles.
- display_name: header title, else ``channelMetadataRenderer.title``, else ``og:title``.
- bio: ``channelMetadataRenderer.description`` (full), else the header description preview,
  else ``og:description``.
- avatar_url: ``channelMetadataRenderer.avatar`` (900 px), else the largest header avatar, else
  ``og:image``.
- followers / posts: c4 ``subscriberCountText`` / ``videosCountText``, or the view-model
  metadata rows ("4.69M subscribers", "6.8K videos"), told apart by their localized words
  (subscriber/video words of ~25 languages; unrecognised parts are taken in page order);
  parsed in any locale, rounded figures set ``counts_approximate``. A channel hiding its
  subscriber count shows only videos: followers stay None. Counts of related channels
  elsewhere in the page are never used.
- verified: a ``BADGE_STYLE_TYPE_VERIFIED(_ARTIST)`` header badge or a check-circle/audio badge
  image in the view-model title; False when a header is present without one.
- external_links: header links (c4 ``channelHeaderLinksRenderer``/``channelHeaderLinksViewModel``,
  view-model ``attribution``), ``/redirect?q=`` unwrapped, YouTube's own URLs skipped; the
  about page's ``channelAboutFullMetadataRenderer``/``aboutChannelViewModel`` links when present.
- emails: addresses written in the description.
"""

import re
from typing import Any
from urllib.parse import unquote

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    absolute_url,
    dig,
    find_emails,
    load_json_at,
    safe_split,
    tolerant,
    unwrap_redirect,
    walk,
)
from app.scraping.models import CreatorProfile

# After the name: `var ytInitialData = `, `window["ytInitialData"] = `, `ytInitialData = `.
_ASSIGNMENT_RE = re.compile(r"[\"']?\]?\s*=\s*")
_ABOUT_KEYS = ("aboutChannelViewModel", "channelAboutFullMetadataRenderer")
# Distinctive openings of the parts read (YouTube writes compact JSON), so each part can be
# decoded without the rest of the blob: (part, text before the part's "{").
_PARTS = (
    ("header", '"header":{"c4TabbedHeaderRenderer"'),
    ("header", '"header":{"pageHeaderRenderer"'),
    ("metadata", '"metadata":{"channelMetadataRenderer"'),
    ("microformat", '"microformat":{"microformatDataRenderer"'),
    *((key, f'"{key}":{{') for key in _ABOUT_KEYS),
)
_CHANNEL_ID_RE = re.compile(r"/channel/(UC[\w-]{22})")
_HANDLE_PATH_RE = re.compile(r"^/@([^/?#]+)")
_VERIFIED_BADGES = {"BADGE_STYLE_TYPE_VERIFIED", "BADGE_STYLE_TYPE_VERIFIED_ARTIST"}
_VERIFIED_IMAGES = {"CHECK_CIRCLE_FILLED", "CHECK_CIRCLE_THICK", "AUDIO_BADGE", "MUSIC_FILLED"}
_VIDEO_WORDS = (
    "video",
    "vídeo",
    "vidéo",
    "film",
    "видео",
    "відео",
    "動画",
    "视频",
    "視頻",
    "동영상",
    "فيديو",
    "วิดีโอ",
    "वीडियो",
    "סרטונים",
    "βίντεο",
)
_SUBSCRIBER_WORDS = (
    "subscri",
    "suscri",
    "abonn",
    "abone",
    "inscrit",
    "iscritt",
    "subskryb",
    "odběrat",
    "odberat",
    "feliratkoz",
    "prenumerant",
    "abonnent",
    "pelanggan",
    "người đăng ký",
    "подпис",
    "підпис",
    "登録者",
    "订阅",
    "訂閱",
    "구독자",
    "مشترك",
    "ผู้ติดตาม",
    "सदस्य",
    "सब्सक्राइबर",
    "מנויים",
    "συνδρομητ",
)


def text_of(value: Any) -> str | None:
    """Return the text of a YouTube text object (``simpleText``, ``runs`` or ``content``).

    Args:
        value (Any): text object or plain string.

    Returns:
        str | None: the text.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("simpleText"), str):
        return value["simpleText"]
    if isinstance(value.get("content"), str):
        return value["content"]
    runs = value.get("runs")
    if isinstance(runs, list):
        return "".join(run.get("text", "") for run in runs if isinstance(run, dict)) or None
    return None


def _largest_image(value: Any) -> str | None:
    """Return the URL of the widest entry of a ``thumbnails``/``sources`` list."""
    images = value if isinstance(value, list) else []
    best = max(
        (image for image in images if isinstance(image, dict) and image.get("url")),
        key=lambda image: image.get("width") or 0,
        default=None,
    )
    return best["url"] if best else None


def _link_urls(data: Any) -> list[str]:
    """Collect the external ``urlEndpoint.url`` targets inside a header-links subtree, in order.

    ``/redirect?q=`` wrappers are unwrapped; links back into YouTube (subscribe buttons, the
    channel itself) are dropped.
    """
    urls = []
    for endpoint in walk(data, "urlEndpoint"):
        url = absolute_url(endpoint.get("url"), "https://www.youtube.com/")
        if not url:
            continue
        url = unwrap_redirect(url)
        host = (safe_split(url).hostname or "").lower()
        if host != "youtube.com" and not host.endswith(".youtube.com"):
            urls.append(url)
    return urls


def _read_c4_header(header: dict[str, Any], profile: ProfileBuilder) -> None:
    """Read the c4TabbedHeaderRenderer (2017-2024 layout)."""
    source = "ytInitialData.header"
    profile.set("platform_user_id", header.get("channelId"), source)
    profile.set("handle", text_of(header.get("channelHandleText")), source)
    profile.set("display_name", text_of(header.get("title")), source)
    profile.set_count("followers", text_of(header.get("subscriberCountText")), source)
    profile.set_count("posts", text_of(header.get("videosCountText")), source)
    badges = [dig(badge, "metadataBadgeRenderer", "style") for badge in header.get("badges") or []]
    profile.set("verified", any(style in _VERIFIED_BADGES for style in badges), source)
    profile.add_links(_link_urls(header.get("headerLinks")), source)
    profile.set("bio", text_of(dig(header, "tagline", "channelTaglineRenderer", "content")), source)
    profile.set("avatar_url", _largest_image(dig(header, "avatar", "thumbnails")), source)


def _read_view_model_header(model: dict[str, Any], profile: ProfileBuilder) -> None:
    """Read the pageHeaderViewModel (2024- layout)."""
    source = "ytInitialData.header.pageHeaderViewModel"
    title = dig(model, "title", "dynamicTextViewModel", "text")
    profile.set("display_name", text_of(title), source)
    image_names = {
        dig(source_image, "clientResource", "imageName")
        for run in (title or {}).get("attachmentRuns") or []
        for source_image in dig(run, "element", "type", "imageType", "image", "sources") or []
    }
    profile.set("verified", bool(image_names & _VERIFIED_IMAGES), source)
    avatar = dig(model, "image", "decoratedAvatarViewModel", "avatar", "avatarViewModel", "image")
    rows = dig(model, "metadata", "contentMetadataViewModel", "metadataRows") or []
    parts = [text_of(part.get("text")) for row in rows for part in row.get("metadataParts") or []]
    counts = []
    for part in filter(None, parts):
        lowered = part.lower()
        if part.startswith("@"):
            profile.set("handle", part.split()[0], source)
        elif any(word in lowered for word in _SUBSCRIBER_WORDS):
            profile.set_count("followers", part, source)
        elif any(word in lowered for word in _VIDEO_WORDS):
            profile.set_count("posts", part, source)
        else:
            counts.append(part)
    # Without a "videos" word the parts come in page order: subscribers, then videos.
    for field, part in zip(("followers", "posts"), counts, strict=False):
        profile.set_count(field, part, source)
    description = dig(model, "description", "descriptionPreviewViewModel", "description")
    description = description or dig(model, "description", "descriptionViewModel", "description")
    profile.set("bio", text_of(description), source)
    profile.set("avatar_url", _largest_image((avatar or {}).get("sources")), source)
    profile.add_links(_link_urls(model.get("attribution")), source)


def _read_about(about: dict[str, Any], key: str, profile: ProfileBuilder) -> None:
    """Read an about page's ``channelAboutFullMetadataRenderer``/``aboutChannelViewModel``."""
    source = f"ytInitialData.{key}"
    profile.set("platform_user_id", about.get("channelId"), source)
    profile.set_count("followers", text_of(about.get("subscriberCountText")), source)
    profile.set_count("posts", text_of(about.get("videoCountText")), source)
    profile.set("bio", text_of(about.get("description")), source)
    profile.add_links(_link_urls(about.get("links")), source)
    profile.add_links(_link_urls(about.get("primaryLinks")), source)


def initial_data_parts(page: Page) -> dict[str, Any]:
    """Decode the parts of ``ytInitialData`` the extractor reads.

    The blob is 0.2-1 MB, mostly video lists; each needed part is located by its distinctive
    key and decoded alone. Pages where a part cannot be located that way (string-literal
    encodings) are decoded whole.

    Args:
        page (Page): the channel page.

    Returns:
        dict[str, Any]: ``header``, ``metadata``, ``microformat`` and the about renderers that
        were found (keys as in ``ytInitialData``).
    """
    html = page.html
    start = -1
    position = html.find("ytInitialData")
    while position >= 0 and start < 0:
        assignment = _ASSIGNMENT_RE.match(html, position + len("ytInitialData"))
        start = assignment.end() if assignment else -1
        position = html.find("ytInitialData", position + 1)
    if start < 0:
        return {}
    parts: dict[str, Any] = {}
    if html[start : start + 1] == "{":
        for key, opening in _PARTS:
            found = html.find(opening, start)
            if found >= 0 and key not in parts:
                value = load_json_at(html, found + opening.index("{"))
                if isinstance(value, dict):
                    parts[key] = value
        if "header" in parts or "metadata" in parts:
            return parts
    data = load_json_at(html, start)
    if not isinstance(data, dict):
        return {}
    parts = {key: data[key] for key in ("header", "metadata", "microformat") if key in data}
    for key in _ABOUT_KEYS:
        about = next(walk(data, key), None) if key in html else None
        if isinstance(about, dict):
            parts[key] = about
    return parts


def extract(page: Page) -> CreatorProfile:
    """Extract a YouTube channel profile.

    Args:
        page (Page): the saved channel page.

    Returns:
        CreatorProfile: the profile (platform "youtube").
    """
    profile = ProfileBuilder("youtube", page)
    data: dict[str, Any] = {}
    with tolerant("ytInitialData"):
        data = initial_data_parts(page)
    metadata = dig(data, "metadata", "channelMetadataRenderer")
    metadata = metadata if isinstance(metadata, dict) else {}
    source = "ytInitialData.metadata"
    with tolerant(source):
        # The metadata has the full description and the 900 px avatar; the header a preview.
        profile.set("bio", metadata.get("description"), source)
        profile.set("avatar_url", _largest_image(dig(metadata, "avatar", "thumbnails")), source)

    header = data.get("header")
    header = header if isinstance(header, dict) else {}
    c4_header = header.get("c4TabbedHeaderRenderer")
    if isinstance(c4_header, dict):
        with tolerant("ytInitialData.header"):
            _read_c4_header(c4_header, profile)
    view_model = dig(header, "pageHeaderRenderer", "content", "pageHeaderViewModel")
    if isinstance(view_model, dict):
        with tolerant("ytInitialData.header.pageHeaderViewModel"):
            _read_view_model_header(view_model, profile)
        profile.set("display_name", dig(header, "pageHeaderRenderer", "pageTitle"), "header")

    with tolerant(source):
        profile.set("platform_user_id", metadata.get("externalId"), source)
        profile.set("display_name", metadata.get("title"), source)
        base_url = dig(c4_header, "navigationEndpoint", "browseEndpoint", "canonicalBaseUrl")
        for url in (metadata.get("vanityChannelUrl"), base_url):
            if isinstance(url, str) and "/@" in url:
                profile.set("handle", url.split("/@", 1)[1].split("/")[0], source)
    for key in _ABOUT_KEYS:
        if isinstance(data.get(key), dict):
            with tolerant(key):
                _read_about(data[key], key, profile)

    micro = dig(data, "microformat", "microformatDataRenderer")
    micro = micro if isinstance(micro, dict) else {}
    canonical = micro.get("urlCanonical")
    canonical = canonical if isinstance(canonical, str) else page.canonical or ""
    match = _CHANNEL_ID_RE.search(canonical) or _CHANNEL_ID_RE.search(page.url)
    profile.set("platform_user_id", match.group(1) if match else None, "canonical")
    for url in (canonical, page.url):
        handle = _HANDLE_PATH_RE.match(safe_split(url).path)
        profile.set("handle", unquote(handle.group(1)) if handle else None, "url")
    profile.set("display_name", page.meta_text("og:title"), "og:title")
    profile.set("bio", page.meta_text("og:description"), "og:description")
    profile.set("avatar_url", page.meta_text("og:image"), "og:image")
    profile.add_emails(find_emails(profile.get("bio")), "bio")

    channel_id = profile.get("platform_user_id")
    url = f"https://www.youtube.com/channel/{channel_id}" if channel_id else None
    return profile.build(url)
