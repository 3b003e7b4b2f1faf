"""Scraping: hardened fetching (``fetch``) and pure extraction of creator profiles.

``extract_profile(url, html)`` reads a saved profile page into a :class:`CreatorProfile`;
``parse_count(text)`` reads a localized, possibly abbreviated count. Nothing here imports Flask.
"""

from app.scraping.counts import parse_count
from app.scraping.extractors import extract_profile
from app.scraping.models import CreatorProfile

__all__ = ["CreatorProfile", "extract_profile", "parse_count"]
