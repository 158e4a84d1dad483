"""spaCy NER on windows around capitalized words: which tokens are windowed, and the windowed
engine finds the names whole-text NER finds in long texts where names are far apart."""

from __future__ import annotations

import pytest

from include.config import load_config
from include.pii.engine import get_engine
from include.pii.ner_windows import ner_windows

FILLER = "the report was filed on time and everyone agreed that the numbers looked fine again. "


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return spacy.blank("en")


def test_no_capitalized_word_no_ner(nlp):
    assert ner_windows(nlp.make_doc("all lower case, no names here at all"), 8) == []


def test_pronoun_and_sentence_initial_stop_words_are_not_candidates(nlp):
    doc = nlp.make_doc("I think so. The plan is fine. " + FILLER * 4)
    assert ner_windows(doc, 8) == []


def test_window_around_a_name_far_from_the_rest(nlp):
    doc = nlp.make_doc(FILLER * 3 + "then Maria Lopez called. " + FILLER * 3)
    (start, end) = ner_windows(doc, 4)[0]
    assert [t.text for t in doc[start:end]][3:7] == ["then", "Maria", "Lopez", "called"]
    assert len(ner_windows(doc, 4)) == 1 and end - start == 4 + 2 + 4


def test_dense_or_unwindowed_texts_run_whole(nlp):
    doc = nlp.make_doc("Maria met Tom in Paris with Anna and John.")
    assert ner_windows(doc, 8) == [(0, len(doc))]
    long = nlp.make_doc(FILLER * 3 + "then Maria called. " + FILLER * 3)
    assert ner_windows(long, None) == [(0, len(long))]


@pytest.mark.parametrize(
    "text",
    [
        FILLER * 4 + "My colleague Sarah Johnson moved to Denver last spring. " + FILLER * 4,
        FILLER * 2 + "Ask Dr. Peter Novak. " + FILLER * 5 + "He lives on Elm Street in Boston. " + FILLER,
        "Dear Ms. Okafor,\n" + FILLER * 6 + "Best regards,\nLiam O'Brien",
    ],
)
def test_windowed_engine_finds_what_whole_text_ner_finds(text):
    base = load_config().pii.model_copy(update={"cache_size": 0})
    whole, windowed = (get_engine(base.model_copy(update={"ner_context_tokens": c})) for c in (None, 8))
    doc = windowed.analyzer.nlp_engine.nlp["en"].make_doc(text)
    assert ner_windows(doc, 8) not in ([], [(0, len(doc))])  # the text is windowed, not whole

    def spans(engine):
        (res,) = engine.analyze([text])
        return sorted((r.entity_type, text[r.start : r.end]) for r in res)

    found = spans(whole)
    assert any(e == "PERSON" for e, _ in found)
    assert spans(windowed) == found
