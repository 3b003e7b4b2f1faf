"""Reading a creator from schema.org JSON-LD (``ProfilePage``/``Person``), shared by extractors.

Mapping used everywhere:

- platform_user_id: ``identifier`` (string, number or ``PropertyValue.value``);
- handle: ``alternateName``/``additionalName`` (X writes the handle in ``additionalName``);
- display_name: ``name``; bio: ``description``; avatar_url: ``image`` (URL or ImageObject
  ``contentUrl``/``url``);
- counts: ``interactionStatistic`` of the person (actions *on* it: FollowAction = followers,
  WriteAction = posts) and ``agentInteractionStatistic`` (actions *by* it: FollowAction =
  following, WriteAction = posts). X puts its "Friends" count under SubscribeAction, so the
  caller says which field SubscribeAction means;
- external_links: ``sameAs`` of the person and ``relatedLink`` of the ProfilePage;
- emails: ``email``.
"""

from typing import Any

from app.scraping.extractors.base import (
    Page,
    ProfileBuilder,
    as_list,
    clean_text,
    interaction_counts,
    schema_image,
    schema_types,
)

_PEOPLE = {"Person", "Organization", "Corporation", "Store", "LocalBusiness", "Brand"}


def profile_entity(page: Page) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Find the profile's subject in the page's JSON-LD.

    Args:
        page (Page): the page.

    Returns:
        tuple[dict | None, dict | None]: ``(profile_page_node, person_node)``; the person is the
        ProfilePage's ``mainEntity``/``about``/``author`` (X wrote it under ``author`` in
        2023-2024), else the first top-level Person/Organization.
    """
    for node in page.json_ld:
        if "ProfilePage" in schema_types(node):
            entity = node.get("mainEntity") or node.get("about") or node.get("author")
            if isinstance(entity, list):
                entity = entity[0] if entity else None
            return node, entity if isinstance(entity, dict) else None
    for node in page.json_ld:
        if schema_types(node) & _PEOPLE:
            return None, node
    return None, None


def _identifier(value: Any) -> str | None:
    """Return a schema.org ``identifier`` as text."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return clean_text(value)


def read_entity(
    profile: ProfileBuilder,
    entity: dict[str, Any],
    profile_page: dict[str, Any] | None = None,
    *,
    subscribe_field: str = "followers",
    source: str = "json-ld",
) -> None:
    """Copy a JSON-LD person (and its ProfilePage) into the profile.

    Args:
        profile (ProfileBuilder): profile being built.
        entity (dict[str, Any]): the Person/Organization node.
        profile_page (dict[str, Any] | None): the enclosing ProfilePage node, if any.
        subscribe_field (str): field a SubscribeAction count means ("following" on X).
        source (str): label recorded in ``sources``.
    """
    profile.set("platform_user_id", _identifier(entity.get("identifier")), source)
    for key in ("alternateName", "additionalName"):
        profile.set("handle", clean_text(entity.get(key)), source)
    profile.set("display_name", clean_text(entity.get("name")), source)
    profile.set("bio", clean_text(entity.get("description")), source)
    profile.set("avatar_url", schema_image(entity.get("image")), source)
    received = interaction_counts(entity, "interactionStatistic")
    if profile_page:
        for action, count in interaction_counts(profile_page, "interactionStatistic").items():
            received.setdefault(action, count)
    page_entity = entity.get("mainEntityofPage") or entity.get("mainEntityOfPage")
    if isinstance(page_entity, dict):
        for action, count in interaction_counts(page_entity, "interactionStatistic").items():
            received.setdefault(action, count)
    given = interaction_counts(entity, "agentInteractionStatistic")
    profile.set_count("followers", received.get("FollowAction"), source)
    profile.set_count(subscribe_field, received.get("SubscribeAction"), source)
    profile.set_count("following", given.get("FollowAction"), source)
    profile.set_count("posts", received.get("WriteAction") or given.get("WriteAction"), source)
    links = as_list(entity.get("sameAs"))
    if profile_page:
        links += as_list(profile_page.get("relatedLink"))
    profile.add_links([link for link in links if isinstance(link, str)], source)
    profile.add_emails([e for e in as_list(entity.get("email")) if isinstance(e, str)], source)
