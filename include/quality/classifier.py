"""Classifier quality score (fineweb-edu-classifier style) on the shared HF model loader.

A model with one output is a regression head: its logit is the score (0-5 for
FineWeb-Edu's classifier). A model with several outputs is read as ordered classes
0..n-1 and scored with the expected class under softmax. ``int_score`` is the score
rounded and clipped to 0..5, as FineWeb-Edu reports it.
"""

from __future__ import annotations

import math

from include.config.quality import QualityClassifierConfig
from include.filters import classifier as hf
from include.filters.fields import answer_text


def classifier_input(row: dict, cfg: QualityClassifierConfig) -> str:
    return answer_text(row) if cfg.input == "answer" else (row.get("text") or "")


def score_texts(cfg: QualityClassifierConfig, texts: list[str]) -> list[float]:
    if not texts:
        return []
    rows = hf.logits(
        cfg.model_path,
        texts,
        batch_size=cfg.batch_size,
        max_chars=cfg.max_chars,
        max_length=cfg.max_length,
        device=cfg.device,
    )
    out = []
    for r in rows:
        if len(r) == 1:
            out.append(float(r[0]))
        else:
            m = max(r)
            exps = [math.exp(x - m) for x in r]
            out.append(sum(i * e for i, e in enumerate(exps)) / sum(exps))
    return out


def int_score(score: float) -> int:
    return int(round(max(0.0, min(score, 5.0))))
