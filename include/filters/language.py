"""Small offline language identifier (py3langid: naive Bayes over byte n-grams, model bundled)."""

from __future__ import annotations

import re

from include.process_cache import process_cached

_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)


def _identifier():
    def build():
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    return process_cached("langid", None, build)


def detect(text: str, sample_chars: int = 2000) -> tuple[str | None, float]:
    """``(ISO 639-1 code, probability)`` of the prose in ``text`` (code spans removed);
    ``(None, 0.0)`` when nothing is left to judge."""
    prose = _CODE.sub(" ", text or "")[:sample_chars]
    if sum(c.isalpha() for c in prose) < 10:
        return None, 0.0
    lang, prob = _identifier().classify(prose)
    return lang, float(prob)
