"""Optional stronger engine: a Hugging Face token-classification model from a local folder.

Set ``pii.ner_model`` to a folder holding a saved model and tokenizer (``save_pretrained``);
nothing is downloaded (``local_files_only``). Its labels are mapped to our entities by
``pii.ner_labels`` (``B-``/``I-`` prefixes stripped; unmapped labels are ignored). The engine
runs the model once per batch of texts (``pii.ner_batch_size`` windows per forward pass, texts cut
into windows of ``pii.ner_window_chars`` characters that overlap by a tenth) before Presidio
analyses the batch; the recognizer then reads its results, so every Spark task batch costs one
batched model pass per executor process.

Public models that fit (download once, ``save_pretrained`` into a folder the workers can read):
``obi/deid_roberta_i2b2`` and ``StanfordAIMI/stanford-deidentifier-base`` (clinical
de-identification: PATIENT, STAFF/HCW, PHONE, ID, ...), ``dslim/bert-base-NER`` (PER/LOC/ORG),
``Jean-Baptiste/roberta-large-ner-english``. Check each model's licence and labels; extend
``ner_labels`` for labels not in the default map.
"""

from __future__ import annotations

import logging

from presidio_analyzer import LocalRecognizer, RecognizerResult

from include.pii.recognizers import result
from include.process_cache import process_cached

log = logging.getLogger(__name__)


def load_pipeline(folder: str):
    """The token-classification pipeline for ``folder`` (one per process, CPU unless CUDA is there)."""

    def build():
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(folder, local_files_only=True)
        pipe = pipeline(
            "token-classification",
            model=model,
            tokenizer=tok,
            aggregation_strategy="first",  # one label per word, from its first piece
            device=0 if torch.cuda.is_available() else -1,
        )
        log.info("PII transformer NER loaded from %s", folder)
        return pipe

    return process_cached("pii_transformer_ner", folder, build)


def windows(text: str, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` windows of ``size`` characters overlapping by a tenth, cut at spaces."""
    from include.pii.scrub import chunk_spans

    return chunk_spans(len(text), size, size // 10, text)


class TransformerNerRecognizer(LocalRecognizer):
    """Entities from a local token-classification model; :meth:`prepare` runs a whole batch at once."""

    def __init__(self, folder: str, labels: dict[str, str], entities: list[str], cfg, language: str = "en"):
        self.folder, self.labels, self.cfg = folder, labels, cfg
        self._ready: dict[str, list[RecognizerResult]] = {}
        wanted = sorted({e for e in labels.values() if e in entities})
        super().__init__(supported_entities=wanted, supported_language=language, name="TransformerNer")

    def load(self) -> None:
        self.pipe = load_pipeline(self.folder)

    def _entity(self, group: str) -> str | None:
        g = group.split("-", 1)[1] if group[:2] in ("B-", "I-", "E-", "S-", "L-", "U-") else group
        e = self.labels.get(g) or self.labels.get(g.upper())
        return e if e in self.supported_entities else None

    def prepare(self, texts: list[str]) -> None:
        """Run the model over every window of ``texts`` in batches; keep results for :meth:`analyze`."""
        self._ready = {}
        todo = [t for t in dict.fromkeys(texts) if t.strip()]
        spans = [(t, s, e) for t in todo for s, e in windows(t, self.cfg.ner_window_chars)]
        if not spans:
            return
        outs = self.pipe([t[s:e] for t, s, e in spans], batch_size=self.cfg.ner_batch_size)
        found: dict[str, list[RecognizerResult]] = {t: [] for t in todo}
        for (t, offset, _), ents in zip(spans, outs, strict=True):
            found[t] += self._results(ents, offset)
        self._ready = found

    def _results(self, ents, offset: int) -> list[RecognizerResult]:
        out = []
        for ent in ents:
            entity = self._entity(ent.get("entity_group") or ent.get("entity", ""))
            if entity is None or ent.get("start") is None:
                continue
            label = ent.get("entity_group") or ent.get("entity")
            out.append(
                result(
                    self,
                    entity,
                    ent["start"] + offset,
                    ent["end"] + offset,
                    float(ent["score"]),
                    f"label {label}",
                )
            )
        return _merge(out)

    def analyze(self, text, entities, nlp_artifacts=None):
        if text not in self._ready:  # not prepared (single-text path): run it now
            self.prepare([text])
        return [r for r in self._ready.get(text, []) if r.entity_type in entities]


def _merge(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Join touching pieces of one entity (word pieces a model labels B- then B-)."""
    out: list[RecognizerResult] = []
    for r in sorted(results, key=lambda r: r.start):
        if out and out[-1].entity_type == r.entity_type and r.start <= out[-1].end:
            out[-1].end = max(out[-1].end, r.end)
            out[-1].score = max(out[-1].score, r.score)
        else:
            out.append(r)
    return out
