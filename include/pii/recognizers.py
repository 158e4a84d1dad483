"""Our recognizers (phone, date of birth, street address, person cues) and the registry.

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

from __future__ import annotations

import regex as re
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, LocalRecognizer, RecognizerResult

from include.pii.validators import luhn_ok

# ------------------------------------------------------------------ helpers


class RegexRecognizer(LocalRecognizer):
    """Base: compiled ``(regex, score)`` rules, an optional pre-filter and ``score_match`` hook."""

    ENTITY = ""
    RULES: tuple[tuple[str, float], ...] = ()
    PREFILTER: str | None = None
    FLAGS = 0
    #: cue words looked for in the CUE_WINDOW characters before a match (+0.35); spaCy treats
    #: words like "call" as stop words, so Presidio's lemma context would never see them
    CUE: str | None = None
    CUE_WINDOW = 40
    #: cue words right after a match ("0431 35 06 90-Office", "555 0199 (mobile)")
    CUE_AFTER: str | None = None
    CUE_AFTER_WINDOW = 12

    def __init__(self, supported_language: str = "en", context: list[str] | None = None):
        self._rules = [(re.compile(rx, self.FLAGS), score) for rx, score in self.RULES]
        self._prefilter = re.compile(self.PREFILTER) if self.PREFILTER else None
        self._cue = re.compile(self.CUE, re.I) if self.CUE else None
        self._cue_after = re.compile(self.CUE_AFTER, re.I) if self.CUE_AFTER else None
        super().__init__(
            supported_entities=[self.ENTITY],
            supported_language=supported_language,
            context=context or list(getattr(self, "CONTEXT", [])),
        )

    def load(self) -> None:
        pass

    def score_match(self, text: str, match: re.Match, score: float) -> float | None:
        return score

    def analyze(self, text, entities, nlp_artifacts=None):
        if self._prefilter is not None and not self._prefilter.search(text):
            return []
        out = []
        for rx, base in self._rules:
            for m in rx.finditer(text):
                start, end = m.span(m.lastindex or 0) if m.lastindex else m.span()
                score = self.score_match(text, m, base)
                if not score:
                    continue
                boosted = bool(
                    self._cue and self._cue.search(text, max(0, start - self.CUE_WINDOW), start)
                ) or bool(self._cue_after and self._cue_after.match(text, end, end + self.CUE_AFTER_WINDOW))
                score = min(1.0, score + 0.35) if boosted else score
                why = AnalysisExplanation(self.name, score, pattern=rx.pattern[:80])
                out.append(
                    RecognizerResult(
                        self.ENTITY,
                        start,
                        end,
                        score,
                        analysis_explanation=why,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: boosted,
                        },
                    )
                )
        return EntityRecognizer.remove_duplicates(out)


def result(rec, entity: str, start: int, end: int, score: float, why: str) -> RecognizerResult:
    """A result of recognizer ``rec`` with a textual explanation."""
    return RecognizerResult(
        entity,
        start,
        end,
        score,
        analysis_explanation=AnalysisExplanation(rec.name, score, textual_explanation=why),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: rec.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id,
        },
    )


_PREFILTERED: dict[tuple[type, str], type] = {}


def prefiltered(recognizer_cls: type, pattern: str) -> type:
    """``recognizer_cls`` that skips texts where ``pattern`` cannot be found (cheap check).

    Named ``Prefiltered<Name>``: Presidio's YAML loader finds recognizer classes by name among
    all subclasses, so ours must not shadow its own.
    """
    key = (recognizer_cls, pattern)
    if key not in _PREFILTERED:
        rx = re.compile(pattern)

        def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
            if not rx.search(text):
                return []
            return recognizer_cls.analyze(self, text, entities, nlp_artifacts, regex_flags)

        name = f"Prefiltered{recognizer_cls.__name__}"
        _PREFILTERED[key] = type(name, (recognizer_cls,), {"analyze": analyze, "__qualname__": name})
    return _PREFILTERED[key]


# ------------------------------------------------------------------ phone numbers

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
        if re.fullmatch(r"\d+(?:\.\d+){2,}", main) and min(map(len, main.split("."))) < 3:
            return None  # a version number or an IP address
        separated = bool(re.search(r"[\s().\-]", main))
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
            return 0.3 if 8 <= len(digits) <= 12 else None
        groups = re.findall(r"\d+", main)
        if main.startswith(("0", "(0")) and 9 <= len(digits) <= 12 and max(map(len, groups)) <= 8:
            return 0.6  # national format with trunk prefix: 0117 496 0123, 030 1234567, 01 23 45 67 89
        if 9 <= len(digits) <= 12 and len(groups) <= 4 and min(map(len, groups)) >= 2:
            return 0.45 if not _valid_somewhere(main) else 0.5
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


# ------------------------------------------------------------------ URLs

_TLDS = (
    "com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|xyz|online|site|shop|blog|news|us|uk|"
    "ca|au|nz|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|ie|jp|cn|in|br|mx|ru|za|kr"
)


class SchemeUrlRecognizer(RegexRecognizer):
    """URLs with a scheme or ``www.``, and bare domains with a common TLD not used as code
    (``nltk.se`` in ``nltk.sent_tokenize`` or ``random.ne`` in ``random.nextInt()`` are not URLs)."""

    ENTITY = "URL"
    PREFILTER = r"\w\.\w"
    FLAGS = re.I
    RULES = (
        (r"\b(?:https?|ftp)://[^\s<>\"'`)\]]+[^\s<>\"'`)\].,;:!?]", 0.6),
        (r"(?<![\w./@-])www\.[a-z0-9\-]+(?:\.[a-z0-9\-]+)+(?:/[^\s<>\"'`)\]]*[^\s<>\"'`)\].,;:!?])?", 0.6),
        (
            rf"(?<![\w./@:-])[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9\-]+)*\.(?:{_TLDS})"
            r"(?:/[^\s<>\"'`)\]]*[^\s<>\"'`)\].,;:!?])?(?![\w(@-])",
            0.5,
        ),
    )


# ------------------------------------------------------------------ card numbers

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


# ------------------------------------------------------------------ dates of birth

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


# ------------------------------------------------------------------ street addresses

_SUFFIXES = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    "Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Loop|Crossing|Xing|Alley|Aly|Plaza|Plz|"
    "Ridge|Rdg|Run|Path|Pike|Row|Walk|Park|Point|Pt|Spring|Springs|Heights|Hts|Hill|Hills|Creek|Crest|Cove|"
    "Glen|Glens|Grove|Harbor|Harbors|Haven|Isle|Junction|Jct|Key|Keys|Knoll|Knolls|Landing|Manor|Manors|"
    "Meadow|Meadows|Mill|Mills|Mission|Mount|Mountain|Orchard|Oval|Pass|Pine|Pines|Port|Ports|Prairie|"
    "Ranch|Rapid|Rapids|Rest|River|Shoal|Shoals|Shore|Shores|Station|Summit|Valley|Valleys|View|Views|"
    "Villa|Ville|Village|Villages|Vista|Well|Wells|Estate|Estates|Expressway|Expy|Field|Fields|Flat|"
    "Flats|Ford|Fords|Forest|Forge|Forges|Fork|Forks|Fort|Freeway|Fwy|Garden|Gardens|Gateway|Green|"
    "Greens|Center|Centers|Ctr|Club|Common|Commons|Corner|Corners|Course|Court|Courts|Dale|Dam|Divide|"
    "Extension|Falls|Ferry|Lake|Lakes|Lodge|Mall|Motorway|Neck|Overpass|Radial|Ramp|Route|Skyway|Spur|"
    "Stream|Throughway|Trace|Track|Tunnel|Turnpike|Underpass|Union|Unions|Viaduct|Bypass|Burg|Burgs|"
    "Branch|Brook|Brooks|Bridge|Bluff|Bluffs|Bottom|Bend|Beach|Camp|Canyon|Cape|Causeway|Cliff|Cliffs|"
    "Crescent|Close|Gdns|Grn|Mews|Parade|Rise|Wharf|Wynd"
)
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|#|Floor|Fl\.?|Room|Rm\.?)\s*[\w\-]+)?"
_STREET = rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][A-Za-z'\-]*\.?\s+){{0,4}}(?:{_SUFFIXES})\b\.?{_UNIT}"
_CITY_STATE_ZIP = r"\b[A-Z][A-Za-z.'\-]+(?:\s[A-Z][A-Za-z.'\-]+){0,3},\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"
_MILITARY = (
    r"\b(?:(?:USNS|USNV|USS|USCGC)\s+[A-Z][a-z]+|(?:Unit|PSC)\s+\d{4},?\s+Box\s+\d{4}"
    r"|(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5})\b"
)
_PO_BOX = r"\bP\.?\s?O\.?\s+Box\s+\d+\b"
_UK_POSTCODE = r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2})\b"


class StreetAddressRecognizer(RegexRecognizer):
    """Street-level addresses: number + street + suffix (+ unit), ``City, ST 12345``, PO boxes,
    US military addresses and UK postcodes."""

    ENTITY = "ADDRESS"
    PREFILTER = r"\d"
    RULES = ((_STREET, 0.7), (_CITY_STATE_ZIP, 0.7), (_MILITARY, 0.7), (_PO_BOX, 0.7), (_UK_POSTCODE, 0.55))
    CONTEXT = [
        "address",
        "live",
        "lives",
        "located",
        "ship",
        "send",
        "mail",
        "street",
        "home",
        "move",
        "moved",
    ]


# ------------------------------------------------------------------ person cues

_TOKEN = r"\p{Lu}\p{Ll}+(?:[\-']\p{Lu}?\p{Ll}+)?"
_NAME = rf"({_TOKEN}(?:\s+\p{{Lu}}\.)?(?:\s+(?:(?:van|de|von|der|da|di|del|le|la|bin|al)\s)?{_TOKEN}){{0,2}})"
_NAME2 = (
    rf"({_TOKEN}(?:\s+\p{{Lu}}\.)?(?:\s+(?:(?:van|de|von|der|da|di|del|le|la|bin|al)\s)?{_TOKEN}){{1,2}})"
)
_STRONG = (
    r"my name is|my name's|name is|names are|name:|call me|i am called|signed|regards,|sincerely,|"
    r"cheers,|best,|attn:?|attention:?|contact person:?|patient:?|from:|to:|cc:|according to|mr\.?|mrs\.?|ms\.?|miss|mx\.?|dr\.?|"
    r"prof\.?|dear|hi|hello|hey|good morning|good afternoon|good evening"
)
_VERBS = (
    r"call|ask|tell|email|e-mail|text|contact|meet|met|invite|thank|cc|ping|message|remind|hire|introduce|"
    r"married|visit|congratulate"
)
_GREET = (
    r"hi|hello|hey|thanks|thank you|cheers|bye|goodbye|welcome|congrats|congratulations|sorry|"
    r"good morning|good afternoon|good evening|yes|no|ok|okay|sure"
)
_SPEECH = (
    r"said|says|told|asked|wrote|replied|mentioned|explained|emailed|texted|called|shouted|whispered|"
    r"added|noted|reported|approved|signed|agreed|complained|insisted|confirmed"
)
_NOT_NAMES = frozenset(
    [
        "There",
        "All",
        "Everyone",
        "Everybody",
        "Team",
        "Sir",
        "Madam",
        "Customer",
        "Customers",
        "Friend",
        "Friends",
        "Guys",
        "Folks",
        "Support",
        "Admin",
        "User",
        "Users",
        "Assistant",
        "Bot",
        "AI",
        "Sirs",
        "Colleagues",
        "Members",
        "Students",
        "Class",
        "World",
        "Doctor",
        "Professor",
        "Manager",
        "Hiring",
        "Recruiter",
        "Reader",
        "Readers",
        "Valued",
        "Sales",
        "Service",
        "Dear",
        "Hello",
        "Hi",
        "Hey",
        "Thanks",
        "Thank",
        "Please",
        "The",
        "This",
        "That",
        "These",
        "Those",
        "It",
        "Is",
        "Are",
        "Was",
        "I",
        "We",
        "You",
        "He",
        "She",
        "They",
        "My",
        "Your",
        "Our",
        "His",
        "Her",
        "Their",
        "Its",
        "What",
        "Who",
        "Why",
        "How",
        "When",
        "Where",
        "Which",
        "Yes",
        "No",
        "Ok",
        "Okay",
        "Sure",
        "Good",
        "Great",
        "Well",
        "Also",
        "And",
        "But",
        "Or",
        "If",
        "So",
        "Then",
        "Now",
        "Today",
        "Tomorrow",
        "Yesterday",
        "Here",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Google",
        "Microsoft",
        "Apple",
        "Amazon",
        "Python",
        "Java",
        "Siri",
        "Alexa",
        "Mom",
        "Dad",
        "God",
        "Lord",
        "Christmas",
        "Easter",
        "Customer",
        "Client",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
    ]
)


class PersonCueRecognizer(RegexRecognizer):
    """Names the small NER model misses, found by cues of English usage: introductions
    ("my name is", "this is" + full name), titles and greetings ("Dr.", "Dear", "Hi"), letter
    closings, verbs taking a person ("call", "ask", "met"), vocatives ("Thanks, Adrian!"),
    speech verbs ("Teresa said"), relative "who", and coordination with a name NER found
    ("Pratt and <PERSON>")."""

    ENTITY = "PERSON"
    RULES = (
        (rf"(?i:\b(?:{_STRONG}))[ \t]+{_NAME}", 0.6),
        (rf"(?i:\b(?:this is|i'm|i am|it's|here is|here's))\s+{_NAME2}", 0.55),
        (rf"(?i:\b(?:{_VERBS}))\s+{_NAME}", 0.5),
        (rf"(?i:\b(?:{_GREET}))\b[^.!?\n]{{0,40}}?,\s+{_NAME}(?=\s*[!.?]|\s*$)", 0.55),
        (rf"{_NAME}\s+(?:{_SPEECH})\b", 0.5),
        (rf"{_NAME},?\s+who\b", 0.55),
    )

    def score_match(self, text, match, score):
        return None if match.group(1).split()[0] in _NOT_NAMES else score

    def analyze(self, text, entities, nlp_artifacts=None):
        out = super().analyze(text, entities, nlp_artifacts)
        anchors = [
            (e.start_char, e.end_char)
            for e in getattr(nlp_artifacts, "entities", None) or []
            if e.label_ == "PERSON"
        ] + [(r.start, r.end) for r in out]
        for a_start, a_end in anchors:
            after = re.match(rf"\s+(?:and|&|or)\s+{_NAME}", text[a_end : a_end + 60])
            before = re.search(rf"{_NAME}\s+(?:and|&|or)\s+$", text[max(0, a_start - 60) : a_start])
            for m, base in ((after, a_end), (before, max(0, a_start - 60))):
                if m and m.group(1).split()[0] not in _NOT_NAMES:
                    start, end = base + m.start(1), base + m.end(1)
                    why = AnalysisExplanation(self.name, 0.55, textual_explanation="coordinated with a name")
                    out.append(
                        RecognizerResult(
                            "PERSON",
                            start,
                            end,
                            0.55,
                            analysis_explanation=why,
                            recognition_metadata={
                                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
                            },
                        )
                    )
        return EntityRecognizer.remove_duplicates(out)
