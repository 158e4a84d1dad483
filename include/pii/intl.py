"""International shapes: IBANs in any case (mod-97 checked) and street addresses in non-US layouts.

Addresses: "<number> <street name> <number>" (European: the house number after the street, the
leading number a building or flat), street words with a street-type ending in many languages
("-straat", "-weg", "-vej", "-gata", "Via", "Rua", ...), unit lines ("Apt. 12", "Suite 300"),
postcodes named as such ("zip code 12345"), "the corner of A and B Street". A found street line
is extended over the short lines or comma parts that follow it (unit, city, region, country,
postcode), the way an address block is written.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import EntityRecognizer

from include.pii.recognizers.address import _PO_BOX, _STREET, _SUFFIXES
from include.pii.recognizers.base import RegexRecognizer, is_lower_case, lower_case_segments, result

# ------------------------------------------------------------------ IBAN

#: IBAN length per country (ISO 13616 registry)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(value: str) -> bool:
    """Registered country, its length, and the ISO 7064 mod-97 check (case-insensitive)."""
    v = re.sub(r"[\s\-]", "", value).upper()
    if IBAN_LENGTHS.get(v[:2]) != len(v) or not v[2:4].isdigit() or not v.isalnum():
        return False
    return int("".join(str(int(c, 36)) for c in v[4:] + v[:4])) % 97 == 1


class CaseFreeIbanRecognizer(RegexRecognizer):
    """IBANs written in upper or lower case, grouped by spaces or dashes or not at all."""

    ENTITY = "IBAN_CODE"
    PREFILTER = r"(?i)[a-z]{2}\s?\d{2}"
    FLAGS = re.I
    RULES = ((r"(?<![a-z0-9])[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]){10,30}", 0.0),)
    CONTEXT = ["iban", "account", "bank", "transfer", "wire"]

    def analyze(self, text, entities, nlp_artifacts=None):
        out = []
        for m in self._rules[0][0].finditer(text):
            want = IBAN_LENGTHS.get(m.group()[:2].upper())
            if want is None:
                continue
            end, n = m.start(), 0
            for i, ch in enumerate(m.group()):  # cut after the country's number of characters
                if ch.isalnum():
                    n += 1
                    if n == want:
                        end = m.start() + i + 1
                        break
            if n == want and iban_ok(text[m.start() : end]) and not text[end : end + 1].isalnum():
                out.append(result(self, "IBAN_CODE", m.start(), end, 0.9, "mod-97 checksum"))
        return out


# ------------------------------------------------------------------ addresses

#: street-type words and endings (Dutch, German, Nordic, Finnish, Slavic, Hungarian, Romance, Greek)
_STREET_END = (
    r"straat|weg|laan|dreef|gracht|plein|kade|singel|steenweg|baan|gata|gatan|gade|vej|veien|vegen|vägen|"
    r"stigen|gränd|tie|katu|kuja|polku|strasse|straße|gasse|allee|platz|ring|damm|ufer|ulica|utca|útja|"
    r"cesta|ulice|street|road|avenue|lane|drive"
)
_STREET_WORD = (
    r"(?i:via|viale|piazza|corso|largo|vicolo|rua|travessa|calle|carrera|avenida|av\.|rue|chemin|"
    r"boulevard|bd\.|plaza|paseo|camino|ulica|ul\.|u\.|str\.|zona|vila|colonia|odos|leof\.|cours|vei|gate|vej|"
    r"allé|alle|allee|c/|útja|utca|gata|gatan|plads|straße|strasse|laan|weg|place)"
)
_WORD = r"[\p{L}][\p{L}'’.\-]*"
_CAPWORD = r"(?:\p{Lu}[\p{L}'’.\-]*|(?:van|von|de|der|den|la|le|di|del|da|do|dos|das|nad|pod|u\.|y|e)(?=\s))"
_NUM = r"\d{1,5}[A-Za-z]?"
_AFTER = r"(?=\s*(?:,|\n|$|(?i:apt|apartment|suite|ste|unit|flat|floor)\b))"
_UNIT_LINE = r"(?i:\b(?:apt\.?|apartment|suite|ste\.|unit|flat)\s*#?\s*\d{1,5}[a-z]?\b)"
#: where a bare "<number> <Words> <number>" can start: a line's start, or after "at", "to", "address:" ...
_STARTS = r"(?:(?<=(?:^|\n)[\s>?*\-]*)|(?<=\b(?i:at|to|in|address(?:es)?|is|are|and|from)[:,]?\s+)|(?<=:\s*))"
_INTL_STREET = rf"{_STARTS}(?<![\d.,:/\-])\b{_NUM}(?:\s+{_NUM})?\s+(?:{_CAPWORD}\s+){{0,4}}{_CAPWORD}\s+{_NUM}\.?{_AFTER}"
_VOCAB_STREET = (
    rf"(?<![\d.,:/\-])\b(?:{_NUM}\s+)?(?:{_NUM}\s+)?(?:{_WORD}\s+){{0,3}}"
    rf"(?:(?i:{_WORD}(?:{_STREET_END}))|{_STREET_WORD}(?:\s+{_WORD}){{0,4}})\s+{_NUM}\b\.?"
)
_US_STREET = (
    rf"(?<![\d.,:/\-])\b\d{{1,6}}[A-Za-z]?(?:\s+\d{{1,5}})?\s+(?:{_CAPWORD}\s+){{0,4}}"
    rf"(?:{_SUFFIXES}|Str|Strasse|Straße)\b\.?"
)
_LED_STREET = rf"(?<![\d.,:/\-])\b\d{{1,5}}\s+{_STREET_WORD}(?:\s+{_CAPWORD}){{1,4}}{_AFTER}"
_LOWER_STREET = (
    r"(?i:(?<![\d.,:/\-])\b\d{1,6}\s+(?:\d{1,5}\s+)?(?:[\p{L}'’\-]+\s+){1,3}"
    r"(?:street|road|avenue|lane|drive|boulevard|place|court|terrace|crescent)\b|\bp\.\s?o\.\s+box\s+\d+\b)"
)
_CORNER = (
    rf"(?i:\b(?:the\s+)?corner\s+of)\s+[^,.;\n]{{3,50}}?\s+(?:and|&)\s+[^,;\n]{{2,40}}?"
    rf"(?:\b(?:{_SUFFIXES})\b\.?|\d+)"
)
_POSTCODE_CUE = (
    r"(?i:\b(?:zip(?:\s*code)?|post(?:al)?\s*code|postcode|plz|cap|cep)\b\s*(?:is|:|=|-)?\s*)"
    r"(\d{4,6}(?:-\d{3,4})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b"
)
#: a short part after a street line: unit, city, region, country, postcode (no sentence in it)
_TAIL = re.compile(
    r"(?:\s*,\s*|\s*\n[\s>?*\-]*|\s+)"
    rf"(?:{_UNIT_LINE}|(?:\p{{Lu}}[\p{{L}}.'’\-]*|\d{{4,6}}(?:-\d{{3,4}})?|[A-Z]{{2}})"
    r"(?:[ \t]+(?:\p{Lu}[\p{L}.'’\-]*|\d{4,6}(?:-\d{3,4})?|[A-Z]{2}|nad|de|del|la|and|of)){0,4})"
    r"(?=\s*(?:,|\n|$|\.\s|\.$))"
)
#: the rest of a one-line address: "... Apt. 787 Reykjavík Benin" up to the line's end
_LINE_REST = re.compile(
    r"(?:[ \t]+(?:\p{Lu}[\p{L}.'’\-]*|\d{1,6}|of|the|del|de|la|nan)){1,7}(?=[ \t]*(?:\n|$|,))"
)
_LEAD_NUMBER = re.compile(r"(?:^|(?<=[\s>:]))\d{1,5}[ \t]+$")
_LOWER_TAIL = re.compile(
    r"(?:\s*,\s*|\s*\n[\s>?*\-]*)(?:[\p{Ll}\p{Lu}][\p{L}.'’\-]*(?:[ \t]+[\p{L}\d]+){0,3})(?=\s*(?:,|\n|$))"
)


class IntlAddressRecognizer(RegexRecognizer):
    """Street addresses in international layouts, extended over the address block they start."""

    ENTITY = "ADDRESS"
    PREFILTER = r"\d|(?i:corner)"
    RULES = (
        (_INTL_STREET, 0.6),
        (_VOCAB_STREET, 0.6),
        (_US_STREET, 0.7),
        (_STREET, 0.7),  # the US layout too, so its block is extended the same way
        (_PO_BOX, 0.7),
        (_LED_STREET, 0.6),
        (_LOWER_STREET, 0.6),
        (_CORNER, 0.6),
        (_POSTCODE_CUE, 0.7),
        (rf"(?<=(?:^|\n|,)[\s>?*\-]*){_UNIT_LINE}", 0.55),
        (rf"{_UNIT_LINE}(?=,?\s+\d{{1,5}}\s+\p{{Lu}})", 0.55),  # "Suite 1204, 88 Harbour Street"
    )
    CUE = r"\b(?:address|live[sd]?|living|located|ship|send|sent|deliver|meet|moved?|street|home|at|to)\b"
    CUE_WINDOW = 30

    def analyze(self, text, entities, nlp_artifacts=None):
        out = super().analyze(text, entities, nlp_artifacts)
        if not out:
            return out
        # an address line is short ("urjala", "maldives 58673"): any lower-case line counts
        lower_segments = [(0, len(text))] if is_lower_case(text) else lower_case_segments(text, 1)
        for r in out:
            if r.score < 0.5:
                continue
            end = r.end
            lower = any(s <= r.start < e for s, e in lower_segments)
            tail = _LOWER_TAIL if lower else _TAIL
            for _ in range(5):
                m = (None if lower else _LINE_REST.match(text, end)) or tail.match(text, end)
                if not m or sum(c.isdigit() for c in m.group()) > 6 or "@" in m.group():
                    break
                end = m.end()
            r.end = end
            lead = _LEAD_NUMBER.search(text, max(0, r.start - 8), r.start)  # "94 19 rue La Boétie"
            if lead:
                r.start = lead.start()
        return EntityRecognizer.remove_duplicates(out)
