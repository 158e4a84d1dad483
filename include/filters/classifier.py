"""Optional Hugging Face text-classification hook (prompt injection, toxicity), one per process.

The model is a local folder (``local_files_only``: nothing is downloaded); it runs on CPU
in batches and returns, per text, the score of the configured positive label.
"""

from __future__ import annotations

import threading

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def _pipeline(path: str):
    if path not in _MODELS:
        with _LOCK:
            if path not in _MODELS:
                from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

                tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
                _MODELS[path] = pipeline("text-classification", model=model, tokenizer=tok, device=-1, top_k=None)
    return _MODELS[path]


def scores(spec, texts: list[str]) -> list[float]:
    """Score of ``spec.label`` for each text (0.0 for empty texts)."""
    if not texts:
        return []
    pipe = _pipeline(spec.model)
    label = spec.label.lower()
    out = pipe([t[:spec.max_chars] or " " for t in texts], batch_size=spec.batch_size, truncation=True)
    return [next((float(d["score"]) for d in res if str(d["label"]).lower() == label), 0.0) for res in out]
