"""Payment card numbers: Luhn-valid digit runs, likely with a known issuer prefix or a card cue."""

from __future__ import annotations

import regex as re

from include.pii.recognizers.base import RegexRecognizer
from include.pii.validators import luhn_ok

#: issuer prefixes: Visa 4, Mastercard 51-55 / 2221-2720, Amex 34/37, Discover 6011/644-649/65,
#: JCB 35 / 2131 / 1800, Diners 30/36/38/39, Maestro 50/56-69, UnionPay 62, Mir 2200-2204
_IIN = re.compile(r"^(?:4|5[0-9]|2[2-7]|3[0-9]|6|1800|2131)")


class LuhnCardRecognizer(RegexRecognizer):
    """Payment card numbers: 12-19 digits (optionally grouped by spaces or dashes) passing Luhn.

    A known issuer prefix makes a match likely (0.75; 12-digit Maestro 0.6); other Luhn-valid
    numbers need a card cue nearby ("card", "visa", "charge", ...).
    """

    ENTITY = "CREDIT_CARD"
    PREFILTER = r"\d(?:[ \-]?\d){11}"
    RULES = ((r"(?<![\d\-+.,/])\d{2,6}(?:[ \-]?\d{2,6}){1,6}(?![\d\-]|[.,]\d)", 0.0),)
    CUE = (
        r"\b(?:card|cards|visa|master ?card|amex|american express|discover|maestro|jcb|diners|credit|debit|"
        r"payment|pay|charged?|cc|billing)\b"
    )

    def score_match(self, text, match, score):
        digits = re.sub(r"[ \-]", "", match.group())
        if not 12 <= len(digits) <= 19 or not luhn_ok(digits) or len(set(digits)) == 1:
            return None
        if _IIN.match(digits):
            return 0.6 if len(digits) == 12 else 0.75
        return 0.2
