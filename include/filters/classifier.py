"""Hugging Face sequence-classification models from local folders, loaded once per process.

Shared by the ``filters`` hook (prompt injection, toxicity: probability of one label) and
the ``quality`` stage's scorer (fineweb-edu-classifier style regression). The model is a
local folder (``local_files_only``: nothing is downloaded); texts run in batches on the
configured device and come back as raw logits, one row per text.
"""

from __future__ import annotations

import inspect

from include.process_cache import process_cached


def resolve_device(device: str = "cpu") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other values as given."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load(path: str, device: str = "cpu") -> tuple:
    """``(tokenizer, model)`` for the folder ``path`` on ``device`` (cached per process)."""
    key = (path, resolve_device(device))

    def build():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if tok.pad_token is None:  # decoder-based classifiers often ship without one
            tok.pad_token = tok.eos_token or tok.unk_token
        model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
        if model.config.pad_token_id is None:  # needed to find each row's last token in a batch
            model.config.pad_token_id = tok.pad_token_id
        return tok, model.to(key[1]).eval()

    return process_cached("hf_sequence_classifier", key, build)


def logits(
    path: str,
    texts: list[str],
    *,
    batch_size: int = 16,
    max_chars: int = 2000,
    max_length: int = 512,
    device: str = "cpu",
) -> list[list[float]]:
    """Raw logits per text (empty texts are scored as a single space)."""
    import torch

    tok, model = load(path, device)
    limit = min(
        max_length,
        getattr(model.config, "max_position_embeddings", max_length) or max_length,
        tok.model_max_length or max_length,
    )
    accepted = inspect.signature(model.forward).parameters
    out: list[list[float]] = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            chunk = [t[:max_chars] or " " for t in texts[i : i + batch_size]]
            enc = tok(chunk, padding=True, truncation=True, max_length=limit, return_tensors="pt").to(
                model.device
            )
            if "token_type_ids" not in accepted:
                enc.pop("token_type_ids", None)
            out += model(**enc).logits.float().cpu().tolist()
    return out


def label_probabilities(model_config, row_logits: list[float]) -> dict[str, float]:
    """Label -> probability as transformers' text-classification pipeline computes it
    (sigmoid for one output or multi-label models, softmax otherwise)."""
    import math

    labels = [str(model_config.id2label.get(i, f"LABEL_{i}")) for i in range(len(row_logits))]
    if len(row_logits) == 1 or getattr(model_config, "problem_type", None) == "multi_label_classification":
        probs = [1.0 / (1.0 + math.exp(-x)) for x in row_logits]
    else:
        m = max(row_logits)
        exps = [math.exp(x - m) for x in row_logits]
        probs = [e / sum(exps) for e in exps]
    return dict(zip(labels, probs, strict=True))


def scores(spec, texts: list[str]) -> list[float]:
    """Score of ``spec.label`` for each text (filters hook; 0.0 when the model has no such label)."""
    if not texts:
        return []
    _, model = load(spec.model)
    label = spec.label.lower()
    out = []
    for row in logits(spec.model, texts, batch_size=spec.batch_size, max_chars=spec.max_chars):
        probs = {k.lower(): v for k, v in label_probabilities(model.config, row).items()}
        out.append(float(probs.get(label, 0.0)))
    return out
