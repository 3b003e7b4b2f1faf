"""The creator profile every extractor returns (also published in the OpenAPI document)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Platform names; "linkinbio" covers link-in-bio hosts other than Linktree (beacons.ai,
#: bio.link, lnk.bio...), "web" any other site (a creator's own homepage).
Platform = Literal[
    "youtube",
    "tiktok",
    "instagram",
    "x",
    "bluesky",
    "twitch",
    "telegram",
    "substack",
    "linktree",
    "linkinbio",
    "mastodon",
    "web",
]

# Fields that do not show that the page described a creator: they come from the URL alone
# (platform, profile_url, handle) or describe the extraction itself.
_SHELL_FIELDS = frozenset({"platform", "profile_url", "handle", "sources", "counts_approximate"})


class CreatorProfile(BaseModel):
    """Structured data about one creator, read from one saved profile page.

    Missing values are None (or an empty list), never 0 or "".
    """

    model_config = ConfigDict(extra="forbid")

    platform: Platform = Field(
        description=(
            "Platform the page belongs to: youtube, tiktok, instagram, x, bluesky, twitch, "
            "telegram, substack, linktree, linkinbio (other link-in-bio hosts such as "
            "beacons.ai or bio.link), mastodon (any fediverse server speaking Mastodon's API) "
            "or web (any other site, e.g. a personal homepage)."
        ),
        examples=["youtube"],
    )
    profile_url: str | None = Field(
        default=None,
        description="Canonical absolute URL of the profile (None only if no URL is known).",
    )
    platform_user_id: str | None = Field(
        default=None,
        description=(
            "The platform's stable id for the account (YouTube channel id, TikTok/X user id, "
            "Bluesky DID, Instagram user id, Substack user id, Twitch user id, Mastodon "
            "account id)."
        ),
    )
    handle: str | None = Field(
        default=None, description="Account handle/username as the platform writes it, no '@'."
    )
    display_name: str | None = Field(default=None, description="Name shown on the profile.")
    publication_name: str | None = Field(
        default=None,
        description="Name of the creator's publication when the page is one (Substack).",
    )
    bio: str | None = Field(default=None, description="Profile description/biography text.")
    avatar_url: str | None = Field(default=None, description="Absolute URL of the profile picture.")
    followers: int | None = Field(
        default=None, ge=0, description="Followers/subscribers/members of the account."
    )
    following: int | None = Field(default=None, ge=0, description="Accounts this account follows.")
    posts: int | None = Field(
        default=None, ge=0, description="Posts published (videos on YouTube and TikTok)."
    )
    likes: int | None = Field(
        default=None, ge=0, description="Total likes received (TikTok hearts)."
    )
    verified: bool | None = Field(
        default=None,
        description="True/False when the page shows the account's verification state.",
    )
    is_business_account: bool | None = Field(
        default=None, description="Whether the platform marks this as a business account."
    )
    category: str | None = Field(
        default=None, description="Business/creator category shown by the platform."
    )
    external_links: list[str] = Field(
        default_factory=list,
        description=(
            "Absolute URLs the creator lists as theirs (website, header/bio links), "
            "deduplicated, in page order."
        ),
    )
    emails: list[str] = Field(
        default_factory=list, description="E-mail addresses the creator publishes on the page."
    )
    counts_approximate: bool = Field(
        default=False,
        description=(
            "True when at least one count was only shown rounded (e.g. '4,69 M') and has been "
            "expanded to an integer."
        ),
    )
    sources: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "For each field set, the source it came from: an API (e.g. 'bluesky_api', "
            "'youtube_data_api', 'x_api') or the page ('page:' and the page data, e.g. "
            "'page:ytInitialData.header', 'page:og:description', 'page:json-ld')."
        ),
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as JSON-ready data.

        Returns:
            dict[str, Any]: ``model_dump(mode="json")``.
        """
        return self.model_dump(mode="json")

    def has_data(self) -> bool:
        """Tell whether the page yielded anything beyond what the URL alone gives.

        Returns:
            bool: True when any field other than platform, profile_url, handle, sources and
            counts_approximate is set; False for empty shells (blocked or login pages).
        """
        return any(value not in (None, [], "") for name, value in self if name not in _SHELL_FIELDS)
