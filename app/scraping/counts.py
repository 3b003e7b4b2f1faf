"""Parse the follower/subscriber/post counts that profile pages print, in any locale.

Pages show counts either exactly ("3440 suscriptores", "2 805 members", "1,234 Followers",
"1.234 Beiträge") or abbreviated and rounded ("4,69 M de suscriptores", "783.4K", "1,2 Mio.",
"1.2 mil", "1,2万"). :func:`parse_count` turns both into an integer and says whether the figure
was rounded.

Separator rules (the page rarely says which locale it uses):

- spaces (plain, no-break U+00A0, narrow no-break U+202F, thin U+2009) and apostrophes
  (Swiss "1'234") only ever group thousands;
- when both "." and "," occur, the last one is the decimal mark ("1.234,5", "1,234.5");
- a mark that occurs more than once groups digits ("1,234,567", Indian "1,23,456");
- a single mark followed by exactly three digits groups thousands when no unit follows
  ("1,234" and "1.234" are both 1234); otherwise it is a decimal mark ("1,66 M", "12.5K").

Units are matched case-insensitively with any trailing dot removed. "B" means billion, "mil"
means thousand (Spanish/Portuguese "mil") but "mil." with its dot million (Czech/Slovak),
"M"/"mi"/"Mio"/"Mln"/"млн" mean million. Words of scripts written without spaces or with
combining vowel signs (Thai "ล้าน", Hindi "लाख", Arabic "ألف", CJK "万") are matched as prefixes
of what follows the number. Arabic-Indic, Persian and full-width digits count as digits.
"""

import re

_THOUSAND = 1_000
_MILLION = 1_000_000
_BILLION = 1_000_000_000

_UNITS: dict[str, int] = {
    # thousand
    "k": _THOUSAND,
    "thousand": _THOUSAND,
    "mil": _THOUSAND,
    "tsd": _THOUSAND,
    "tausend": _THOUSAND,
    "mille": _THOUSAND,
    "tys": _THOUSAND,
    "тыс": _THOUSAND,
    "rb": _THOUSAND,
    "ribu": _THOUSAND,
    "n": _THOUSAND,  # Vietnamese "nghìn"
    "nghìn": _THOUSAND,
    "tis": _THOUSAND,  # Czech/Slovak "tisíc"
    "χιλ": _THOUSAND,
    "ezer": _THOUSAND,
    "千": _THOUSAND,
    "천": _THOUSAND,
    # ten thousand (CJK)
    "万": 10_000,
    "萬": 10_000,
    "만": 10_000,
    # Indian numbering
    "lakh": 100_000,
    "lac": 100_000,
    "crore": 10_000_000,
    "cr": 10_000_000,
    # million
    "m": _MILLION,
    "mn": _MILLION,
    "mm": _MILLION,
    "mi": _MILLION,
    "mio": _MILLION,
    "mill": _MILLION,
    "mln": _MILLION,
    "million": _MILLION,
    "millions": _MILLION,
    "millón": _MILLION,
    "millon": _MILLION,
    "millones": _MILLION,
    "milione": _MILLION,
    "milioni": _MILLION,
    "milhão": _MILLION,
    "milhões": _MILLION,
    "miljoen": _MILLION,
    "miljoner": _MILLION,
    "millionen": _MILLION,
    "млн": _MILLION,
    "tr": _MILLION,  # Vietnamese "triệu"
    "triệu": _MILLION,
    "jt": _MILLION,  # Indonesian "juta"
    "juta": _MILLION,
    "εκ": _MILLION,
    # hundred million (CJK)
    "億": 100_000_000,
    "亿": 100_000_000,
    "억": 100_000_000,
    # billion
    "b": _BILLION,
    "bn": _BILLION,
    "bi": _BILLION,
    "billion": _BILLION,
    "billions": _BILLION,
    "md": _BILLION,
    "mrd": _BILLION,
    "mld": _BILLION,
    "milliard": _BILLION,
    "milliards": _BILLION,
    "milliarden": _BILLION,
    "млрд": _BILLION,
    "tỷ": _BILLION,
    "δισ": _BILLION,
}

# Unit words matched at the start of the text after the number (scripts whose words hold
# combining signs, or that are written without a space before the next word); longest first.
_PREFIX_UNITS: tuple[tuple[str, int], ...] = tuple(
    sorted(
        {
            "千": _THOUSAND,
            "천": _THOUSAND,
            "万": 10_000,
            "萬": 10_000,
            "만": 10_000,
            "億": 100_000_000,
            "亿": 100_000_000,
            "억": 100_000_000,
            "พัน": _THOUSAND,
            "หมื่น": 10_000,
            "แสน": 100_000,
            "ล้าน": _MILLION,
            "हज़ार": _THOUSAND,
            "हजार": _THOUSAND,
            "लाख": 100_000,
            "करोड़": 10_000_000,
            "करोड": 10_000_000,
            "ألف": _THOUSAND,
            "آلاف": _THOUSAND,
            "مليون": _MILLION,
            "مليار": _BILLION,
            "אלף": _THOUSAND,
            "מיליון": _MILLION,
        }.items(),
        key=lambda item: -len(item[0]),
    )
)
# Arabic-Indic, Persian and full-width digits, Arabic decimal/thousands marks -> ASCII.
_DIGITS = str.maketrans(
    {
        **{chr(0x660 + i): str(i) for i in range(10)},
        **{chr(0x6F0 + i): str(i) for i in range(10)},
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "\u066b": ".",
        "\u066c": ",",
    }
)

_GROUP_CHARS = " \u00a0\u202f\u2009'\u2019"
# A number: ASCII digits with optional separators between digit runs, then an optional unit.
_COUNT_RE = re.compile(
    r"(?<![\d.,])([0-9]+(?:[.,\u00a0\u202f\u2009 '\u2019][0-9]+)*)"
    r"\s*([^\W\d_]+\.?)?",
)
_LEADING_DIGITS = re.compile(r"\d*")


def _multiplier(unit: str | None, rest: str) -> int | None:
    """Return the multiplier of the unit written after a number, or None if there is none.

    Args:
        unit (str | None): the word right after the number (letters, optional dot).
        rest (str): the text after the number (leading spaces removed), for prefix units.
    """
    if unit:
        if unit.lower() == "mil.":
            return _MILLION
        multiplier = _UNITS.get(unit.rstrip(".").lower())
        if multiplier is not None:
            return multiplier
    for prefix, multiplier in _PREFIX_UNITS:
        if rest.startswith(prefix):
            return multiplier
    return None


def _to_number(digits: str, has_unit: bool) -> float | None:
    """Read a digit string with locale separators as a number, or None if it is malformed."""
    compact = digits
    for char in _GROUP_CHARS:
        if char in compact:
            groups = compact.split(char)
            if any(len(_LEADING_DIGITS.match(group).group()) != 3 for group in groups[1:]):
                return None
            compact = "".join(groups)
    dots, commas = compact.count("."), compact.count(",")
    if dots and commas:
        decimal = "." if compact.rfind(".") > compact.rfind(",") else ","
        grouping = "," if decimal == "." else "."
        if compact.count(decimal) > 1:
            return None
        compact = compact.replace(grouping, "").replace(decimal, ".")
    elif dots + commas:
        mark = "." if dots else ","
        if dots + commas > 1:
            compact = compact.replace(mark, "")
        else:
            whole, fraction = compact.split(mark)
            if len(fraction) == 3 and not has_unit:
                compact = whole + fraction
            else:
                compact = f"{whole}.{fraction}"
    return float(compact)


def parse_count(text: str | int | None) -> tuple[int, bool] | None:
    """Parse the first count in ``text``.

    Args:
        text (str | int | None): page text such as ``"1,66 M d'abonnés"`` or ``"2 805 members"``;
            an ``int`` is returned as an exact count.

    Returns:
        tuple[int, bool] | None: ``(value, is_approximate)`` where ``is_approximate`` is True when
        the page abbreviated the figure ("4,69 M", "1.2K"), or None when no count is found.
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int):
        return (text, False) if text >= 0 else None
    text = text.translate(_DIGITS)
    for match in _COUNT_RE.finditer(text):
        digits, unit = match.group(1), match.group(2)
        multiplier = _multiplier(unit, text[match.end(1) :].lstrip())
        value = _to_number(digits, multiplier is not None)
        if value is None:
            continue
        if multiplier is not None:
            return round(value * multiplier), True
        if value != int(value):
            continue
        return int(value), False
    return None
