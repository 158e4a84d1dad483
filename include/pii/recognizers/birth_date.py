"""Dates of birth: a date with a birth cue before it."""

from __future__ import annotations

import regex as re

from include.pii.recognizers.base import RegexRecognizer

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}})"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}})"
)
_BIRTH_CUE = re.compile(r"(?:born|birth|\bdob\b|d\.o\.b|birthday|\bb\.|geboren|née|nee)", re.I)


class BirthDateRecognizer(RegexRecognizer):
    """A date with a birth cue (born, date of birth, DOB, birthday) in the 40 characters before it."""

    ENTITY = "DATE_OF_BIRTH"
    PREFILTER = r"\d"
    FLAGS = re.I
    RULES = ((rf"(?<![\w/.\-]){_DATE}(?![\w/\-]|\.\d)", 0.85),)

    def score_match(self, text, match, score):
        return score if _BIRTH_CUE.search(text, max(0, match.start() - 40), match.start()) else None
