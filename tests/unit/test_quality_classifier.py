"""Classifier scoring with tiny randomly initialised models saved locally (no downloads)."""

from __future__ import annotations

import math

import pytest

from include.config.quality import QualityClassifierConfig
from include.quality.classifier import classifier_input, int_score, score_texts

TEXTS = ["hello", "some text here and a bit more", "", "x " * 300]


def test_regression_scores_are_batch_independent(tmp_path):
    from scripts.tiny_model import build_tiny_classifier

    path = str(build_tiny_classifier(tmp_path / "reg", ["hello world", "some text"] * 20, num_labels=1))
    batched = score_texts(QualityClassifierConfig(enabled=True, model_path=path, batch_size=4), TEXTS)
    single = score_texts(QualityClassifierConfig(enabled=True, model_path=path, batch_size=1), TEXTS)
    assert batched == pytest.approx(single, abs=1e-5) and len(set(batched)) == 4


def test_decoder_classifier_without_pad_token_and_expected_class_score(tmp_path):
    """A Llama classifier shipped without a pad token; 6 ordered classes -> expected class index."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from include.filters import classifier as hf
    from scripts.tiny_model import train_tokenizer

    tok = train_tokenizer(["hello world", "some text here"] * 20, vocab_size=300)
    tok.pad_token = None
    tok.save_pretrained(tmp_path)
    torch.manual_seed(0)
    LlamaForSequenceClassification(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            num_labels=6,
        )
    ).save_pretrained(tmp_path)
    cfg = QualityClassifierConfig(enabled=True, model_path=str(tmp_path), batch_size=4)
    scores = score_texts(cfg, TEXTS)
    for text, s in zip(TEXTS, scores, strict=True):
        (logits,) = hf.logits(str(tmp_path), [text])
        exps = [math.exp(x) for x in logits]
        assert s == pytest.approx(sum(i * e for i, e in enumerate(exps)) / sum(exps), abs=1e-4)
        assert 0.0 <= s <= 5.0


def test_int_score_and_input_choice():
    assert [int_score(x) for x in (-0.7, 2.49, 2.51, 7.0)] == [0, 2, 3, 5]
    row = {
        "kind": "sft",
        "text": "Q\\n\\nA",
        "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
    }
    assert classifier_input(row, QualityClassifierConfig()) == "Q\\n\\nA"
    assert classifier_input(row, QualityClassifierConfig(input="answer")) == "A"
