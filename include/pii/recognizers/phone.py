"""Phone numbers: a regex finds candidates, a shape scorer rates them, cue words before or after
raise them, and ``phonenumbers`` is asked only about separated national numbers with no cue.
"""

from __future__ import annotations

import regex as re

from include.pii.recognizers.base import RegexRecognizer
from include.pii.validators import luhn_ok

_DATE_SHAPE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_NANP = re.compile(r"^(?:(?:\+|00)?1[\s.\-]?)?(?:\(\d{3}\)|\d{3})[\s.\-]?\d{3}[\s.\-]\d{4}$")


class IntlPhoneRecognizer(RegexRecognizer):
    """Phone numbers: international (``+``/``00`` prefix), NANP and national trunk formats,
    with extensions. Scored by shape; bare digit runs need context words."""

    ENTITY = "PHONE_NUMBER"
    PREFILTER = r"\d[\d\s().\-]{4,}\d"
    RULES = (
        (
            r"(?<![\w+/.\-])(?:\+|00)?\(?\d[\d \t().\-/\u00a0]{4,24}\d"
            r"(?:\s{0,2}(?:x|ext\.?|extension|#)\s{0,2}\d{1,6})?(?!\w|-\d|\.\d)",
            0.0,
        ),
    )
    CUE = (
        r"\b(?:phone|call(?:ed|ing)?(?:\s+(?:me|us))?(?:\s+(?:on|at))?|tel|telephone|mobile|cell(?:phone)?|fax|"
        r"contact|reach|text|whatsapp|sms|number|dial|ring|landline|office|desk|direct|switchboard|hotline|"
        r"answering)\b"
    )
    CUE_AFTER = r"\s*[\-(]?\s*(?:office|fax|mobile|cell|home|work|desk|tel|phone|direct)\b"

    def score_match(self, text: str, match: re.Match, score: float) -> float | None:
        cand = match.group()
        if "\n" in cand:
            return None
        main = re.split(r"\s*(?:x|ext\.?|extension|#)\s*\d+$", cand)[0].strip()
        digits = re.sub(r"\D", "", main)
        if not 6 <= len(digits) <= 15 or len(set(digits)) == 1:
            return None
        if _DATE_SHAPE.match(main) or _SSN_SHAPE.match(main) or _benign_number(main, digits):
            return None
        if _THOUSANDS.fullmatch(main) and not main.startswith("0"):  # "1 299 000": a phone only with a cue
            prefix = text[max(0, match.start() - 2) : match.start()]
            return None if re.search(r"[$€£¥]", prefix) else 0.2
        if _REFERENCE.search(text, max(0, match.start() - 24), match.start()):
            return None  # an order, invoice or ticket number
        if len(digits) == 6:  # "33 93 31": a short national number, only with a phone cue
            return 0.2 if re.fullmatch(r"\d{2,3}(?:[\s.\-]\d{2,3}){1,2}", main) else None
        if (
            re.fullmatch(r"\d+(?:\.\d+){2,}", main)
            and min(map(len, main.split("."))) < 3
            and not re.match(r"0\d\.", main)
        ):
            return None  # a version number or an IP address ("08.4942.0555" is a trunk-prefixed phone)
        separated = bool(re.search(r"[\s().\-/]", main))
        if (
            main.startswith("+")
            and len(digits) >= 8
            or main.startswith("00")
            and len(digits) >= 11
            and digits[2] != "0"
        ):
            return 0.75
        if _NANP.match(main):
            return 0.7 if separated else 0.35
        if not separated:
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                return None  # a card number, the card recognizer owns it
            if len(digits) == 7:  # "8000404": a local number, only with a phone cue
                return 0.2
            return 0.3 if 8 <= len(digits) <= 12 else None
        groups = re.findall(r"\d+", main)
        if main.startswith(("0", "(0")) and 9 <= len(digits) <= 13 and max(map(len, groups)) <= 8:
            return 0.6  # trunk prefix: 0117 496 0123, 030 1234567, 01 23 45 67 89, 05366/97251027
        if re.search(r"\(\d{1,5}\)", main) and 8 <= len(digits) <= 13 and len(groups) <= 5:
            return 0.55  # an area code in brackets: (398) 25979 11, 8 (483) 378-87-62
        if 9 <= len(digits) <= 12 and len(groups) <= 4 and min(map(len, groups)) >= 2:
            return 0.45 if not _valid_somewhere(main) else 0.5
        if (
            8 <= len(digits) <= 12
            and len(groups) <= 6
            and 2 <= min(map(len, groups)) <= max(map(len, groups)) <= 4
        ):
            return 0.45  # "12 90 40 47", "57 309 825 97 91": groups of 2-4 digits
        return 0.3


#: regions a national-format number is checked against (``phonenumbers``), when it has no cue
PHONE_REGIONS = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL", "PT", "IE",
    "CZ", "HU", "GR", "RO", "IN", "AU", "NZ", "CA", "BR", "MX", "AR", "JP", "SG", "ZA", "IL", "TR",
)  # fmt: skip


def _valid_somewhere(number: str) -> bool:
    """True when ``phonenumbers`` calls ``number`` valid in one of PHONE_REGIONS."""
    import phonenumbers

    for region in PHONE_REGIONS:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


_ISBN = re.compile(r"^(?:97[89][\s\-]?)?\d{1,5}[\s\-]\d{1,7}[\s\-]\d{1,7}[\s\-][\dX]$")


def _benign_number(main: str, digits: str) -> bool:
    """ISBNs (check digit) and runs of years ("1998 2004")."""
    if _ISBN.match(main) and len(digits) in (10, 13):
        if len(digits) == 13 and sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0:
            return True
        if len(digits) == 10 and sum((10 - i) * int(d) for i, d in enumerate(digits)) % 11 == 0:
            return True
    groups = re.findall(r"\d+", main)
    return all(len(g) == 4 and g[:2] in ("19", "20") for g in groups)


_REFERENCE = re.compile(
    r"(?i)\b(?:order|invoice|ticket|ref(?:erence)?|case|tracking|po|sku|item|part|model|serial|account|"
    r"transaction|booking|confirmation)\b(?:\s*(?:no\.?|number|num|id|code))?\s*[#:]?\s*$"
)
_THOUSANDS = re.compile(r"\d{1,3}(?:[ ,.]\d{3})+")
