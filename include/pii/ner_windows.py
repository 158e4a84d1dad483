"""Which tokens spaCy's NER needs to see: windows around capitalized words.

spaCy's English models find PERSON and LOCATION names only where a token has an upper-case
letter, so NER runs on windows of ``context`` tokens either side of such a token (the pronoun
"I" and a sentence-initial stop word like "The" are not candidates) instead of on the whole
text. Tokens outside every window cannot hold a name the model would find; the window gives
the model the local context it decides on. When the windows cover most of a text, the text is
analysed whole (one pass is cheaper than many short ones).
"""

from __future__ import annotations

#: windows covering at least this share of a text's tokens: the whole text goes through NER
WHOLE_TEXT_SHARE = 0.8
#: tokens after which a capitalized stop word starts a sentence (not a name candidate)
_SENTENCE_ENDS = {".", "!", "?", ":", ";", '"', "“", "”"}
_PRONOUN_I = {"I", "I'm", "I'll", "I've", "I'd"}


def is_candidate(doc, i: int) -> bool:
    """Whether token ``i`` could start or be part of a name spaCy's NER would tag."""
    tok = doc[i]
    if not any(c.isupper() for c in tok.text) or tok.text in _PRONOUN_I:
        return False
    prev = doc[i - 1] if i else None
    starts = prev is None or prev.text in _SENTENCE_ENDS or "\n" in prev.text_with_ws or prev.is_space
    return not (starts and tok.is_stop)


def ner_windows(doc, context: int | None) -> list[tuple[int, int]]:
    """Token ranges ``[start, end)`` of ``doc`` to run NER on: none without a candidate, the whole
    text when ``context`` is None or the windows cover most of it, else the merged windows."""
    from include.pii.recognizers.base import is_lower_case  # Presidio: not at module import

    n = len(doc)
    if is_lower_case(doc.text):  # no token can be a candidate: skip the loop over tokens
        return []
    if context is None:  # the first candidate decides
        return [(0, n)] if any(is_candidate(doc, i) for i in range(n)) else []
    candidates = [i for i in range(n) if is_candidate(doc, i)]
    if not candidates:
        return []
    merged: list[list[int]] = []
    for i in candidates:
        start, end = max(0, i - context), min(n, i + context + 1)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if sum(e - s for s, e in merged) >= WHOLE_TEXT_SHARE * n:
        return [(0, n)]
    return [(s, e) for s, e in merged]
