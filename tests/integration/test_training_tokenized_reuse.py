"""finetune_adapter's plan -> build_set twice on one dataset and tokenizer: the second run reuses the
tokenized set (log line, nothing tokenized), and training reads it (plain and packed); a template
putting user text under labels fails build_set naming the example."""

from __future__ import annotations

import json
import logging

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.training.train import run
from tests.dags.test_finetune_adapter_e2e import _conf
from tests.unit.test_training_tokenized_set import BROKEN_TEMPLATE

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(s3_bucket):
    """A real (moto) bucket: plan checks that the registry is writable before any work."""
    return s3_bucket


def _run(tiny_model_dir, canonical_dir, work, run_id, bucket, **data):
    from llmops_airflow.finetune import plan_run

    hp = {"max_steps": 2, "per_device_train_batch_size": 2, "logging_steps": 1}
    hp["data"] = {"max_length": 256, "max_rows": 12, "eval_fraction": 0.2, **data}
    params = _conf(tiny_model_dir, canonical_dir, work.parent, bucket, hyperparameters=hp)
    params["work_uri"] = str(work)
    return plan_run(params, run_id, local_gpu_check=False)


def test_second_run_reuses_the_tokenized_set_and_training_reads_it(
    tiny_model_dir, canonical_dir, tmp_path, caplog, capsys, registry
):
    from llmops_airflow.finetune import build_set, launch_config

    work = tmp_path / "work"
    r1 = _run(tiny_model_dir, canonical_dir, work, "manual__1", registry)
    first = build_set(r1)["tokenized"]
    r2 = _run(tiny_model_dir, canonical_dir, work, "manual__2", registry)
    with caplog.at_level(logging.INFO, logger="include.training.tokenized_set"):
        second = build_set(r2)["tokenized"]
    assert not first["reused"] and second["reused"] and second["key"] == first["key"]
    assert f"reusing tokenized set {first['key']}" in caplog.text
    print(f"build_set tokenized: first {first['seconds']}s, reuse {second['seconds']}s")
    assert [p.name for p in (work / "_tokenized").iterdir()] == [first["key"]]
    info = json.loads((work / "manual__2" / "trainset" / "trainset.json").read_text())
    stats = info["tokenized"]["stats"]["train"]
    assert (
        info["tokenized"]["key"] == first["key"] and stats["examples"] == 12 and stats["tokens_trained"] > 0
    )

    metrics = run(launch_config(r2))
    out = capsys.readouterr().out
    assert f"reading tokenized set {first['key']}" in out
    assert metrics["resolved"]["tokenized_set"] == first["key"]
    assert metrics["tokens_trained"] == stats["tokens_trained"] and metrics["global_steps"] == 2
    assert metrics["trainset"]["tokenized"]["key"] == first["key"]  # registered in the adapter manifest


def test_packed_set_trains_padding_free(tiny_model_dir, canonical_dir, tmp_path, capsys, registry):
    from llmops_airflow.finetune import build_set, launch_config

    r = _run(
        tiny_model_dir,
        canonical_dir,
        tmp_path / "work",
        "manual__p",
        registry,
        packing="first_fit",
        max_length=1024,
    )
    tokenized = build_set(r)["tokenized"]
    metrics = run(launch_config(r))
    assert f"reading tokenized set {tokenized['key']}" in capsys.readouterr().out
    assert metrics["global_steps"] == 2 and metrics["train_loss"] > 0


def test_build_set_fails_when_the_template_supervises_user_text(
    tiny_model_dir, canonical_dir, tmp_path, registry
):
    from llmops_airflow.finetune import build_set

    r = _run(
        tiny_model_dir, canonical_dir, tmp_path / "work", "manual__b", registry, chat_template=BROKEN_TEMPLATE
    )
    with pytest.raises(AirflowFailException, match=r"loss-mask check failed for example '.+': the user turn"):
        build_set(r)
    assert not list((tmp_path / "work").rglob("tokenized.json"))


def test_position_id_resets_stop_attention_across_packed_examples(tiny_model_dir):
    """What the padding-free collator feeds the model (one row, no attention mask, position ids
    restarting per example, no cache as in trl's compute_loss) gives the second example the logits
    it has alone: transformers builds a block-diagonal mask from the resets (sdpa / eager too)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    a, b = torch.arange(5, 45).unsqueeze(0), torch.arange(50, 80).unsqueeze(0)
    packed = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(40), torch.arange(30)]).unsqueeze(0)
    with torch.no_grad():
        alone = model(input_ids=b).logits[0]
        reset = model(input_ids=packed, position_ids=positions, use_cache=False).logits[0, 40:]
        leaked = model(input_ids=packed, use_cache=False).logits[0, 40:]
    assert torch.allclose(reset, alone, atol=1e-4)
    assert not torch.allclose(leaked, alone, atol=1e-4)  # without resets b attends to a


def test_a_remote_job_given_the_uri_trains_from_the_parquet_without_tokenizing(
    tiny_model_dir, canonical_dir, tmp_path, capsys, registry, monkeypatch
):
    """What a SageMaker job does: its ``train`` channel is the canonical dataset (its training set
    knows no tokenized set) and its ``tokenized`` channel a copy of the set; the entry point given
    ``--tokenized-uri`` reads that Parquet and never tokenizes."""
    import shutil

    from llmops_airflow.finetune import build_set, launch_config

    from include.training import tokenization
    from include.training.train import main

    r1 = _run(tiny_model_dir, canonical_dir, tmp_path / "work", "manual__1", registry)
    tok = build_set(r1)["tokenized"]
    channel = tmp_path / "opt_ml" / "tokenized"
    shutil.copytree(tok["uri"], channel)
    config = tmp_path / "launch_config.json"
    config.write_text(json.dumps(launch_config(r1).to_dict()))

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(tokenization, "tokenized_sft_dataset", no_tokenizing)
    out_dir = tmp_path / "model"
    argv = ["--config", str(config), "--dataset-uri", str(canonical_dir), "--output-uri", str(out_dir)]
    assert main([*argv, "--tokenized-uri", str(channel)]) == 0
    out = capsys.readouterr().out
    assert f"tokenized set given: {tok['key']} at {channel}" in out
    assert f"reading tokenized set {tok['key']} from {channel} (no tokenization)" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["resolved"]["tokenized_set"] == tok["key"] and metrics["global_steps"] == 2
    with pytest.raises(AssertionError, match="tokenized again"):  # without the uri it would tokenize
        main([*argv[:-1], str(tmp_path / "model2")])
