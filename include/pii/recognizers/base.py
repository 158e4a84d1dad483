"""The base of our regex recognizers, the result helper and Presidio pre-filtering."""

from __future__ import annotations

import regex as re
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, LocalRecognizer, RecognizerResult


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
                out.append(
                    result(self, self.ENTITY, start, end, score, pattern=rx.pattern[:80], boosted=boosted)
                )
        return EntityRecognizer.remove_duplicates(out)


def result(
    rec,
    entity: str,
    start: int,
    end: int,
    score: float,
    why: str | None = None,
    *,
    pattern: str | None = None,
    boosted: bool | None = None,
) -> RecognizerResult:
    """A result of recognizer ``rec``, explained by the text ``why`` or the ``pattern`` that matched;
    ``boosted``, when given, records whether a context cue raised the score."""
    meta = {
        RecognizerResult.RECOGNIZER_NAME_KEY: rec.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id,
    }
    if boosted is not None:
        meta[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = boosted
    explanation = AnalysisExplanation(rec.name, score, pattern=pattern, textual_explanation=why)
    return RecognizerResult(
        entity, start, end, score, analysis_explanation=explanation, recognition_metadata=meta
    )


#: the case a text is written in is judged per line (sentence ends are too often abbreviations,
#: file names or list items: "ablution block, etc. under cover", "such as .zip or .rar")
_LINE = re.compile(r"[^\n]*\n?")
_WORD = re.compile(r"\p{L}{2,}")
#: fewer words than this on a line: too little to judge its case by ("import math")
MIN_LOWER_LINE_WORDS = 3


def is_lower_case(text: str) -> bool:
    """Whether ``text`` is written without capitals (then case is no evidence of a name)."""
    return not any(c.isupper() for c in text)


def lower_case_segments(text: str, min_words: int = MIN_LOWER_LINE_WORDS) -> list[tuple[int, int]]:
    """``(start, end)`` of the lines written all in lower case in a text that has capitals
    elsewhere ("Hi all,\\nwhy is yulan so impulsive?"): a long text mixes both. Lines of
    fewer than ``min_words`` words and lines inside a fenced code block are not."""
    out, code = [], False
    for m in _LINE.finditer(text):
        line = m.group()
        if line.lstrip().startswith("```"):
            code = not code
        elif not code and len(_WORD.findall(line)) >= min_words and is_lower_case(line):
            out.append(m.span())
    return out


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
