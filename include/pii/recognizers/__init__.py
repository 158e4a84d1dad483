"""Our recognizers (phone, URL, card, date of birth, street address, person cues), one module an entity.

Presidio's own recognizers are kept where they are good (e-mail with TLD check, IP, US SSN,
spaCy NER); each gets a cheap pre-filter so it only runs its patterns on texts that can hold a
match. Ours replace Presidio's phones (``phonenumbers`` over 8 regions on every text is slow and
misses extensions and national formats: here a regex finds candidates, a shape scorer rates them,
cue words before *or after* ("office", "fax", "call me on", "-Office") raise them, and
``phonenumbers`` over 33 regions is asked only about separated national numbers with no cue),
cards (issuer prefixes miss Mastercard 2-series, Maestro, JCB 2131/1800) and URLs (bare
``name.tld`` matches code such as ``nltk.sent_tokenize``). IBANs in any case and international
addresses: ``include.pii.intl``; names from first/last-name lists: ``include.pii.names``.
"""

from include.pii.recognizers.address import StreetAddressRecognizer
from include.pii.recognizers.base import RegexRecognizer, prefiltered, result
from include.pii.recognizers.birth_date import BirthDateRecognizer
from include.pii.recognizers.card import LuhnCardRecognizer
from include.pii.recognizers.person import PersonCueRecognizer
from include.pii.recognizers.phone import PHONE_REGIONS, IntlPhoneRecognizer
from include.pii.recognizers.url import SchemeUrlRecognizer

__all__ = [
    "PHONE_REGIONS",
    "BirthDateRecognizer",
    "IntlPhoneRecognizer",
    "LuhnCardRecognizer",
    "PersonCueRecognizer",
    "RegexRecognizer",
    "SchemeUrlRecognizer",
    "StreetAddressRecognizer",
    "prefiltered",
    "result",
]
