"""Presidio engines, built once per process and cached by the analysis settings.

The spaCy pipeline runs only what NER needs (``ner`` and any embedding layer it listens
to); tagger, parser and lemmatizer are off, and lower-cased tokens stand in for lemmas in
Presidio's context matching (substring mode, so "cards" still matches "card"). With
``pii.ner_context_tokens`` set (opt-in), NER runs only on windows around capitalized words
(``ner_windows``); by default on the whole text. Either way a text without such a word ("I"
and a sentence-initial stop word do not count) is tokenized only. Analysis is batched through ``nlp.pipe``; a batch that raises is retried text by text so
one bad text fails alone.
"""

from __future__ import annotations

import hashlib
import json
import logging

from include.config.pii import PiiConfig
from include.pii.ner_windows import ner_windows
from include.process_cache import process_cached

log = logging.getLogger(__name__)

#: spaCy labels -> Presidio entities we use (ORG, DATE, NORP, ... are ignored)
NER_MAPPING = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


def analysis_key(cfg: PiiConfig) -> str:
    """Fingerprint of the settings that shape the analyzer (not operators, not the key)."""
    fields = (
        "spacy_model",
        "language",
        "entities",
        "score_threshold",
        "packs",
        "recognizer_files",
        "recognizers",
        "allow_list",
        "ner_model",
        "ner_labels",
        "ner_batch_size",
        "ner_window_chars",
        "ner_context_tokens",
    )
    blob = json.dumps(cfg.model_dump(include=set(fields), mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def get_engine(cfg: PiiConfig) -> PiiEngine:
    """The process-wide engine for ``cfg`` (built on first use, then reused by every task)."""
    return process_cached("pii_engine", analysis_key(cfg), lambda: PiiEngine(cfg))


def _nlp_engine(model: str, language: str, ner_context: int | None):
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class NerOnlySpacyEngine(SpacyNlpEngine):
        def load(self) -> None:
            nlp = spacy.load(model)
            keep = {"ner"}
            for name, pipe in nlp.pipeline:
                if "ner" in (getattr(pipe, "listening_components", None) or []):
                    keep.add(name)
            nlp.select_pipes(enable=[n for n in nlp.pipe_names if n in keep])
            self.nlp = {language: nlp}
            self._has_lemmas = "lemmatizer" in keep

        def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
            from spacy.tokens import Span

            nlp = self.nlp[language]
            texts = [str(t) for t in texts]
            docs = [nlp.make_doc(t) for t in texts]
            jobs = [  # (text, first token, doc NER runs on)
                (i, s, doc if (s, e) == (0, len(doc)) else doc[s:e].as_doc())
                for i, doc in enumerate(docs)
                for s, e in ner_windows(doc, ner_context)
            ]
            ents: dict[int, list] = {}
            tagged = nlp.pipe((job[2] for job in jobs), batch_size=batch_size)
            for (i, first, _), out in zip(jobs, tagged, strict=True):
                ents.setdefault(i, []).extend(
                    Span(docs[i], e.start + first, e.end + first, label=e.label_) for e in out.ents
                )
            for i, (text, doc) in enumerate(zip(texts, docs, strict=True)):
                if i in ents:
                    doc.ents = ents[i]
                yield text, self._doc_to_nlp_artifact(doc, language)

        def _doc_to_nlp_artifact(self, doc, language):
            artifacts = super()._doc_to_nlp_artifact(doc, language)
            if not self._has_lemmas:  # keywords derive from lemmas: recompute both
                artifacts.lemmas = [t.lower_ for t in doc]
                artifacts.keywords = artifacts.set_keywords(self, artifacts.lemmas, language)
            return artifacts

    ner = NerModelConfiguration(
        model_to_presidio_entity_mapping=NER_MAPPING,
        labels_to_ignore=[
            "ORG",
            "ORGANIZATION",
            "NORP",
            "DATE",
            "TIME",
            "CARDINAL",
            "EVENT",
            "LANGUAGE",
            "LAW",
            "MONEY",
            "ORDINAL",
            "PERCENT",
            "PRODUCT",
            "QUANTITY",
            "WORK_OF_ART",
            "MISC",
        ],
    )
    engine = NerOnlySpacyEngine(
        models=[{"lang_code": language, "model_name": model}], ner_model_configuration=ner
    )
    engine.load()
    return engine


def _recognizers(cfg: PiiConfig, nlp_engine) -> list:
    from presidio_analyzer.predefined_recognizers import (
        EmailRecognizer,
        IpRecognizer,
        UsSsnRecognizer,
    )

    from include.pii import custom
    from include.pii.intl import CaseFreeIbanRecognizer, IntlAddressRecognizer
    from include.pii.names import GazetteerPersonRecognizer, OrgAwareSpacyRecognizer
    from include.pii.recognizers import (
        BirthDateRecognizer,
        IntlPhoneRecognizer,
        LuhnCardRecognizer,
        PersonCueRecognizer,
        SchemeUrlRecognizer,
        StreetAddressRecognizer,
        prefiltered,
    )

    lang = cfg.language
    ner_entities = sorted({e for e in NER_MAPPING.values() if e in cfg.entities})
    built = [
        prefiltered(EmailRecognizer, r"@")(supported_language=lang),
        prefiltered(IpRecognizer, r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]|::")(supported_language=lang),
        CaseFreeIbanRecognizer(lang),
        prefiltered(UsSsnRecognizer, r"\d{3}\D?\d{2}\D?\d{4}")(supported_language=lang),
        SchemeUrlRecognizer(lang),
        LuhnCardRecognizer(lang),
        IntlPhoneRecognizer(lang),
        BirthDateRecognizer(lang),
        StreetAddressRecognizer(lang),
        IntlAddressRecognizer(lang),
        PersonCueRecognizer(lang),
        GazetteerPersonRecognizer(lang),
    ]
    if ner_entities:
        built.append(OrgAwareSpacyRecognizer(supported_language=lang, supported_entities=ner_entities))
    if cfg.ner_model:
        from include.pii.transformer_ner import TransformerNerRecognizer

        built.append(TransformerNerRecognizer(cfg.ner_model, cfg.ner_labels, cfg.entities, cfg, lang))
    specs = [s for pack in cfg.packs for s in custom.load_pack(pack)]
    specs += [s for f in cfg.recognizer_files for s in custom.load_file(f)] + list(cfg.recognizers)
    built += [custom.SpecRecognizer(s, lang) for s in specs]
    wanted = set(cfg.entities) | {s.entity for s in specs}  # declaring a recognizer asks for its entity
    return [r for r in built if set(r.supported_entities) & wanted]


class PiiEngine:
    """Analyzer + anonymizer for one set of analysis settings."""

    def __init__(self, cfg: PiiConfig):
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
        from presidio_anonymizer import AnonymizerEngine

        from include.pii.offline import require_spacy_model, use_bundled_suffix_list

        use_bundled_suffix_list()
        require_spacy_model(cfg.spacy_model)
        logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
        logging.getLogger("presidio-anonymizer").setLevel(logging.WARNING)
        self.cfg = cfg
        nlp_engine = _nlp_engine(cfg.spacy_model, cfg.language, cfg.ner_context_tokens)
        registry = RecognizerRegistry(supported_languages=[cfg.language])
        for rec in _recognizers(cfg, nlp_engine):
            registry.add_recognizer(rec)
        self.entities = sorted({e for r in registry.recognizers for e in r.supported_entities})
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=[cfg.language],
            default_score_threshold=cfg.score_threshold,
        )
        self.batch = BatchAnalyzerEngine(self.analyzer)
        self._prepared = [r for r in registry.recognizers if hasattr(r, "prepare")]
        self.anonymizer = AnonymizerEngine()
        log.info("PII engine ready: model %s, entities %s", cfg.spacy_model, ", ".join(self.entities))

    def _kwargs(self) -> dict:
        kw = {"entities": self.entities, "score_threshold": self.cfg.score_threshold}
        if self.cfg.allow_list:
            kw["allow_list"] = list(self.cfg.allow_list)
        return kw

    def analyze(self, texts: list[str]) -> list:
        """Recognizer results per text, or the exception that text raised (fail closed upstream)."""
        if not texts:
            return []
        try:
            for rec in self._prepared:  # batched model passes (transformer NER) before Presidio
                rec.prepare(texts)
            return self.batch.analyze_iterator(
                texts, language=self.cfg.language, batch_size=self.cfg.batch_size, **self._kwargs()
            )
        except Exception:  # isolate the failing text(s)
            log.warning("PII batch analysis failed; retrying %d texts one by one", len(texts))
        out: list = []
        for text in texts:
            try:
                out.append(self.analyzer.analyze(text=text, language=self.cfg.language, **self._kwargs()))
            except Exception as exc:  # noqa: BLE001 - the caller rejects the record
                out.append(exc)
        return out
