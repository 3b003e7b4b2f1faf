"""``parse_count``: localized, abbreviated and exact counts as pages print them."""

import pytest

from app.scraping.counts import parse_count

NBSP, NNBSP, THIN = "\u00a0", "\u202f", "\u2009"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Rounded, abbreviated figures: expanded and flagged approximate.
        ("1,66 M d'abonnés", (1_660_000, True)),
        (f"4,69{NBSP}M de suscriptores", (4_690_000, True)),
        ("6,8 K", (6_800, True)),
        ("1.2M", (1_200_000, True)),
        ("1.38M subscribers", (1_380_000, True)),
        ("12.5K", (12_500, True)),
        ("783.4K Followers", (783_400, True)),
        ("3.9m Likes", (3_900_000, True)),
        ("10K+", (10_000, True)),
        ("2k", (2_000, True)),
        ("1.2 mil", (1_200, True)),
        ("12 mil seguidores", (12_000, True)),
        ("1,2 Mio.", (1_200_000, True)),
        ("1,2 Mio. Abonnenten", (1_200_000, True)),
        ("3,4 Tsd.", (3_400, True)),
        ("1,2 Mln", (1_200_000, True)),
        ("2,5 mi seguidores", (2_500_000, True)),
        ("4,69 millones de suscriptores", (4_690_000, True)),
        ("1.38 million subscribers", (1_380_000, True)),
        ("1,2 млн подписчиков", (1_200_000, True)),
        ("12 тыс.", (12_000, True)),
        ("1.2B", (1_200_000_000, True)),
        ("1,1 Md", (1_100_000_000, True)),
        ("1.2万人", (12_000, True)),
        ("フォロワー3.5万人", (35_000, True)),
        ("1.2億", (120_000_000, True)),
        ("2.3만", (23_000, True)),
        ("1.5 lakh", (150_000, True)),
        ("1.234,5 M", (1_234_500_000, True)),
        # Units of other YouTube/TikTok locales.
        ("1,2 Tr người đăng ký", (1_200_000, True)),
        ("12,3 N người đăng ký", (12_300, True)),
        ("1,2 jt pelanggan", (1_200_000, True)),
        ("1.2 ล้าน", (1_200_000, True)),
        ("3.4แสน", (340_000, True)),
        ("12 ألف مشترك", (12_000, True)),
        ("1.2 مليون مشترك", (1_200_000, True)),
        ("1.2 लाख सब्सक्राइबर", (120_000, True)),
        ("1.2 करोड़", (12_000_000, True)),
        ("1,2 εκ. συνδρομητές", (1_200_000, True)),
        ("12 χιλ. συνδρομητές", (12_000, True)),
        ("12,3 tis. odběratelů", (12_300, True)),
        ("1,2 mil. odběratelů", (1_200_000, True)),
        ("1.2 tỷ", (1_200_000_000, True)),
        # Arabic-Indic and full-width digits, Arabic separators.
        ("\u0661\u0662\u0663 ألف", (123_000, True)),
        ("\u0661\u066c\u0662\u0663\u0664", (1_234, False)),
        ("\u0661\u066b\u0662 مليون", (1_200_000, True)),
        ("１２３万人", (1_230_000, True)),
        # Exact figures in every grouping style.
        ("2 805 members", (2_805, False)),
        (f"2{NBSP}805", (2_805, False)),
        (f"2{NNBSP}805 abonnés", (2_805, False)),
        (f"1{THIN}234{THIN}567", (1_234_567, False)),
        ("1 234 567 followers", (1_234_567, False)),
        ("1,234", (1_234, False)),
        ("1.234", (1_234, False)),
        ("1.234 Beiträge", (1_234, False)),
        ("1,234,567", (1_234_567, False)),
        ("1.234.567", (1_234_567, False)),
        ("1,23,456", (123_456, False)),
        ("1'234", (1_234, False)),
        ("3440 suscriptores", (3_440, False)),
        ("783427", (783_427, False)),
        ("0", (0, False)),
        ("Followers: 512", (512, False)),
        (783_427, (783_427, False)),
        (0, (0, False)),
    ],
)
def test_parse_count(text: str | int, expected: tuple[int, bool]) -> None:
    """Each printed count gives the integer and whether it was rounded."""
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "no digits here", "1.5", "12,5", None, True, -3, "hundreds of subscribers"],
)
def test_parse_count_rejects_non_counts(text: object) -> None:
    """Text without an integer count (or a bare decimal without a unit) gives None."""
    assert parse_count(text) is None  # type: ignore[arg-type]


def test_parse_count_takes_the_first_count() -> None:
    """Only the first count in a sentence is read."""
    assert parse_count("1.2M subscribers, 340 videos") == (1_200_000, True)
    assert parse_count("340 videos • 1.2M subscribers") == (340, False)
