"""Person names from evidence the small NER model lacks, and a check on what it calls a person.

:class:`GazetteerPersonRecognizer` finds runs of capitalised words (initials and particles such
as "van", "de" inside) where the first word is a known first name, or the last one a known last
name (``include.pii.gazetteer``: popular names of 105 countries, common English words removed),
single known names in running text, every item of a list whose items are mostly names ("our
founders: Kovalev, Lee and Phillips"), and, in texts, sentences or lines written all in lower case,
known first names (4+ letters, with the last name after them). A lone word that is only a last name is not taken where spaCy
calls it a place, product or group: "Jordan", "London" or "Paris" are surnames too. spaCy's
ORG/GPE labels do not stop a first name ("Kaylee" labelled GPE is still a name).

:class:`OrgAwareSpacyRecognizer` drops spaCy PERSON spans that are company names ("Smith Ltd.")
and cuts a company name off the front of a span that runs on into a person's name.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import EntityRecognizer, LocalRecognizer
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from include.pii.gazetteer import english_words, name_words, names
from include.pii.places import places
from include.pii.recognizers import result
from include.pii.recognizers.base import is_lower_case, lower_case_segments

#: words (not inside an e-mail address, URL or identifier) and initials
_TOKEN = re.compile(r"(?<![\w@/\\_]|[\w]\.)(?:\p{L}[\p{L}'’\-]*|\p{Lu}\.)(?![\w@_/]|\.\w)")
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "da",
        "di",
        "del",
        "della",
        "dos",
        "das",
        "du",
        "le",
        "la",
        "ten",
        "ter",
        "bin",
        "al",
        "el",
        "st.",
    ]
)
_ORG_SUFFIX = re.compile(
    r"\b(?:Ltd|Limited|Inc|LLC|LLP|GmbH|Corp|Corporation|Co|PLC|AG|SA|NV|BV|Group|Holdings|Partners|"
    r"Associates|Bank|University|Foundation|Institute|Technologies|Solutions|Systems|Labs)\b\.?",
)
_NOT_SINGLE = frozenset(
    {"LOCATION", "GPE", "LOC", "FAC", "NORP", "LANGUAGE", "EVENT", "PRODUCT", "WORK_OF_ART", "ORG", "LAW"}
)
_LOWER_ITEM = re.compile(r"\p{Ll}[\p{Ll}'’\-]{2,}")
_LOWER_LIST = re.compile(
    r"(?<![\w\-])(?:\p{Ll}[\p{Ll}'’\-]{2,}, ){0,8}\p{Ll}[\p{Ll}'’\-]{2,},? (?:and|or) \p{Ll}[\p{Ll}'’\-]{2,}(?![\w\-])"
)
_ITEM = re.compile(r"\p{Lu}[\p{L}'’\-]+(?: \p{Lu}[\p{L}'’\-]+)?")
_CUED = re.compile(
    r"(?i:\b(?:says|said|asked|told|thanked|calls?\s+me|called\s+me|named|starring|featuring|"
    r"maiden\s+name\s+is|shouted\s+at|married)\s+)(\p{L}[\p{L}'’\-]{2,})(?![\w@])"
)
#: first names that are also English words (left out of the gazetteer): in lower-case text they
#: count only right before a known last name ("mark pinto", "grace nakamura")
_WORD_FIRST_NAMES = (
    "bill bob dale dean drew frank grace harry jack jade jay joy june mark mason may paul ray rose ruby "
    "sandy daisy dawn eve faith hope ivy holly lily penny pearl glen guy gene earl cole chase hunter "
    "will grant august april"
)
WORD_FIRST_NAMES = frozenset(_WORD_FIRST_NAMES.split())
#: spaCy labels that keep a lone first name from counting ("Paris", "Georgia", "Chad" are names too)
_PLACE = frozenset({"LOCATION", "GPE", "LOC", "FAC", "NORP", "LANGUAGE"})
#: words before a place name ("in Kiel", "from Lyss"): there a name-shaped GPE stays a place
_PLACE_BEFORE = re.compile(
    r"(?i:\b(?:in|at|from|to|near|of|into|via|across|around|visit(?:ed|ing)?)\s+(?:the\s+)?)$"
)
_PLACE_AFTER = re.compile(
    r"(?i:,?\s+(?:city|county|state|province|region|island|valley|river|street|road|\d))"
)
_BREAK = re.compile(r"[.!?:;\n>]\s*$|^\s*$")


def _result(rec, start: int, end: int, score: float, why: str):
    return result(rec, "PERSON", start, end, score, why)


class GazetteerPersonRecognizer(LocalRecognizer):
    """Names found with first/last-name lists, list patterns and capitalisation."""

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["PERSON"], supported_language=supported_language)

    def load(self) -> None:
        self.first, self.last, self.common = names("first"), names("last"), english_words()
        self.places = places()
        self.lower_places = frozenset(p.lower() for p in self.places)
        self.name_words = name_words()

    def _known(self, word: str) -> tuple[bool, bool]:
        w = re.sub(r"['’]s$", "", word.lower())  # possessive: "Spencer's"
        if w in self.common or len(w) < 2:
            return False, False
        return w in self.first, w in self.last

    def analyze(self, text, entities, nlp_artifacts=None):
        if is_lower_case(text):
            return self._analyze(text, True, None)
        out = self._analyze(text, False, nlp_artifacts)
        for start, end in lower_case_segments(text):  # "Hi. why is yulan so impulsive?"
            for r in self._analyze(text[start:end], True, None):
                r.start, r.end = r.start + start, r.end + start
                out.append(r)
        return EntityRecognizer.remove_duplicates(out)

    def _analyze(self, text, lower, nlp_artifacts):
        labels = {}
        for e in getattr(nlp_artifacts, "entities", None) or []:
            for i in range(e.start_char, e.end_char):
                labels[i] = e.label_
        toks = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        out, i = [], 0
        while i < len(toks):
            run = self._run(text, toks, i, lower)
            if not run:
                i += 1
                continue
            j = i + len(run)
            hit = self._judge(text, run, lower, labels)
            if hit:
                out.append(_result(self, run[0][0], run[-1][1], hit[0], hit[1]))
            i = j
        ner = [
            (e.start_char, e.end_char)
            for e in getattr(nlp_artifacts, "entities", None) or []
            if e.label_ == "PERSON"
        ]
        out += self._lists(text, [(r.start, r.end) for r in out] + ner, labels, lower)
        out += self._cued(text, lower)
        return out

    def _run(self, text, toks, i, lower):
        """Longest run of name-shaped tokens from ``i`` (words joined by one space, initials, particles)."""
        if toks[i][2].lower() in self.common and not (lower and toks[i][2] in WORD_FIRST_NAMES):
            return []  # "Contact John Carter": the run starts at "John"
        run = []
        for k in range(i, min(len(toks), i + 5)):
            s, e, w = toks[k]
            if run and not re.fullmatch(r"[ \t]", text[run[-1][1] : s]):
                break
            cap = w[0].isupper() and not w.isupper() or len(w) == 2 and w.endswith(".")
            if lower:  # no capitals to go by: known names of 4+ letters ("saw", "may" are words), and
                # one more word after a known first name ("anna bizier's"), or a known last name after
                # a first name that is also a word ("mark pinto")
                bare = re.sub(r"['’]s$", "", w)
                ok = len(w) >= 4 and any(self._known(w))
                if (
                    ok
                    and run
                    and bare in self.name_words
                    and not self._known(run[0][2])[0]
                    and run[0][2] not in WORD_FIRST_NAMES
                ):
                    ok = False  # "söderberg novel": a word after a surname, not a second name
                if not ok and len(run) == 1 and self._known(run[0][2])[0]:
                    ok = len(bare) >= 3 and bare not in self.common and bare.isalpha()
                if not ok and not run and (w in self.first or w in WORD_FIRST_NAMES) and k + 1 < len(toks):
                    nxt = re.sub(r"['’]s$", "", toks[k + 1][2])
                    ok = (
                        len(nxt) >= 4
                        and self._known(nxt)[1]
                        and re.fullmatch(r"[ \t]", text[e : toks[k + 1][0]]) is not None
                    )
            else:
                ok = cap or (run and w.lower() in _PARTICLES and k + 1 < len(toks))
            if not ok:
                break
            run.append(toks[k])
        while run and (run[-1][2].lower() in _PARTICLES or run[-1][2].endswith(".") and len(run) > 1):
            if run[-1][2].endswith(".") and len(run[-1][2]) == 2 and len(run) > 1:
                break  # "Smith J." keeps its initial
            run.pop()
        return run

    def _judge(self, text, run, lower, labels):
        words = [w for _, _, w in run if not w.endswith(".")]
        if not words:
            return None
        first, _ = self._known(words[0])
        _, last = self._known(words[-1])
        start = run[0][0]
        initial = bool(_BREAK.search(text[max(0, start - 3) : start])) or start == 0
        if lower:
            w = re.sub(r"['’]s$", "", words[0])
            if (
                first
                and (len(words) > 1 or not (w.endswith("s") and w in self.name_words))
                or (len(words) == 2 and words[0] in WORD_FIRST_NAMES and last)
            ):  # a lone first name that is also a plural word ("parts", "sales") is the word
                return 0.6, "known first name (lower-case text)"
            if (
                len(words) == 1
                and last
                and len(w) >= 5
                and (not w.isascii() or w not in self.name_words and w not in self.lower_places)
            ):  # "the söderberg novel", "why is yulan so": a name that is no English word or place
                return 0.55, "known last name, not an English word (lower-case text)"
            return None
        if len(words) >= 2 and (first or last and labels.get(start) not in _PLACE):  # not "Tel Aviv"
            return 0.65, "known first or last name in a capitalised run"
        if (
            len(words) == 1
            and first
            and (
                labels.get(start) not in _PLACE
                or words[0] not in self.places
                and not _PLACE_BEFORE.search(text, max(0, start - 12), start)
            )
        ):  # "Kaylee" labelled GPE is a name, "flew to Lyon" a place
            return 0.55, "known first name"
        if len(words) == 1 and last and not initial and labels.get(start) not in _NOT_SINGLE:
            return 0.55, "known last name in running text"
        bare = re.sub(r"['’]s$", "", words[0])
        if (
            len(words) == 1
            and last
            and initial
            and len(bare) >= 4
            and bare.lower() not in self.name_words
            and bare not in self.places
            and labels.get(start) not in _NOT_SINGLE
        ):  # "Nielsen called": at a sentence start only a name that is no English word or place
            return 0.55, "known last name, not an English word, at a sentence start"
        if (
            len(words) == 1
            and (first or last)
            and not initial
            and labels.get(start) in ("GPE", "LOC", "LOCATION")
            and words[0] not in self.places
            and not _PLACE_BEFORE.search(text, max(0, start - 12), start)
        ):  # the small model calls unfamiliar surnames places: "the Nielsen novel"
            return 0.55, "known name that spaCy calls a place, not a known place"
        if (
            len(run) == 1
            and not initial
            and labels.get(start) == "LOCATION"
            and labels.get(run[0][1] - 1) == "LOCATION"
            and labels.get(start - 2) != "LOCATION"
            and labels.get(run[0][1] + 2) != "LOCATION"
            and words[0] not in self.places
            and words[0].lower() not in self.common
            and not _PLACE_BEFORE.search(text, max(0, start - 12), start)
            and not _PLACE_AFTER.match(text, run[0][1])
        ):  # "Why is Avtorhan so ...": a lone word spaCy calls a place, which no place list knows
            return 0.5, "unknown word that spaCy calls a place, used like a person"
        return None

    def _cued(self, text, lower):
        """A single name after a verb that takes a person: "says Halvorsen", "everyone calls me Tove"."""
        out = []
        for m in _CUED.finditer(text):
            w = m.group(1)
            known = any(self._known(w))
            if w.lower() in self.common or (lower or not w[0].isupper()) and not known:
                continue
            out.append(_result(self, m.start(1), m.end(1), 0.55, "after a verb that takes a person"))
        return out

    def _lists(self, text, spans, labels, lower):
        """Items of "A, B and C" lists (or "A and B") where a third of the items are names found."""
        out = []
        if lower:
            return self._lower_lists(text)
        for m in re.finditer(
            r"(?:\p{Lu}[\p{L}'’\-]+(?: \p{Lu}[\p{L}'’\-]+)?, ){0,8}\p{Lu}[\p{L}'’\-]+(?: \p{Lu}[\p{L}'’\-]+)?"
            r",? (?:and|&|or) \p{Lu}[\p{L}'’\-]+(?: \p{Lu}[\p{L}'’\-]+)?",
            text,
        ):
            items = [(m.start() + x.start(), m.start() + x.end()) for x in _ITEM.finditer(m.group())]
            named = sum(
                labels.get(s) not in _PLACE and any(a < e and s < b for a, b in spans) for s, e in items
            )
            if named and named * 3 >= len(items):
                out += [_result(self, s, e, 0.55, "item of a list of names") for s, e in items]
        # a list with commas only ("Present: A B, C D, E"), to the end of its line or sentence:
        # every item when half of them are names found
        for m in re.finditer(
            rf"(?<![\p{{L}},] ?)(?:{_ITEM.pattern}, ){{2,8}}{_ITEM.pattern}(?=[ \t]*(?:[.;\n]|$))", text
        ):
            items = [(m.start() + x.start(), m.start() + x.end()) for x in _ITEM.finditer(m.group())]
            named = sum(
                labels.get(s) not in _PLACE and any(a < e and s < b for a, b in spans) for s, e in items
            )
            if named * 2 >= len(items):
                out += [_result(self, s, e, 0.55, "item of a comma list of names") for s, e in items]
        return out

    def _lower_lists(self, text):
        """Lower-case "a, b and c": every item when half of them are known names."""
        out = []
        for m in _LOWER_LIST.finditer(text):
            items = [(m.start() + x.start(), m.start() + x.end()) for x in _LOWER_ITEM.finditer(m.group())]
            items = [(a, b) for a, b in items if text[a:b] not in ("and", "or")]
            named = [any(self._known(text[a:b])) or text[a:b] in self.last for a, b in items]
            words = [text[a:b] in self.name_words for a, b in items]
            # half of the items names, not all of them English words ("the items, tools and parts")
            if sum(named) * 2 >= len(items) and not all(words):
                out += [_result(self, a, b, 0.55, "item of a list of names") for a, b in items]
        return out


class OrgAwareSpacyRecognizer(SpacyRecognizer):
    """spaCy NER without the company names it labels PERSON."""

    def analyze(self, text, entities, nlp_artifacts=None):
        out = []
        common = english_words()
        for r in super().analyze(text, entities, nlp_artifacts):
            if r.entity_type == "PERSON":
                span = text[r.start : r.end]
                word = re.sub(r"['’]s$", "", span).lower()
                if word in common and word not in WORD_FIRST_NAMES or any(c.isdigit() for c in span):
                    continue  # one common word ("Tales") or a span with digits ("Order 4417093") is no name
                last = None
                for m in _ORG_SUFFIX.finditer(span):
                    last = m
                if last is not None:
                    rest = span[last.end() :]
                    if not rest.strip():
                        continue  # the whole span is a company
                    r.start += last.end() + len(rest) - len(rest.lstrip())
            out.append(r)
        return out
