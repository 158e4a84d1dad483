"""Evaluation gate, output completeness, base-model fingerprint, backends."""

from __future__ import annotations

import json
import math
import sys

import pytest

from include.config.training import GateSettings, load_training_config
from include.training import backends
from include.training import evaluate as ev


def test_gate_per_method():
    gate = GateSettings()
    ok = ev.apply_gate({"train_loss": 2.0, "eval_loss": 1.9, "base_eval_loss": 2.0}, gate, "sft")
    assert ok["passed"] and ok["checks"][1]["value"] == pytest.approx(0.95)
    worse = ev.apply_gate({"train_loss": 2.0, "eval_loss": 2.2, "base_eval_loss": 2.0}, gate, "sft")
    assert not worse["passed"] and worse["checks"][1]["check"] == "eval_loss / base_eval_loss"
    lenient = ev.apply_gate(
        {"train_loss": 2.0, "eval_loss": 2.2, "base_eval_loss": 2.0},
        GateSettings(max_eval_loss_ratio=1.2),
        "sft",
    )
    assert lenient["passed"]
    assert not ev.apply_gate({"train_loss": float("nan")}, gate, "sft")["passed"]
    assert ev.apply_gate({"train_loss": 0.5, "eval_loss": 0.6}, gate, "dpo")["passed"]  # 0.6 < ln 2
    assert not ev.apply_gate({"train_loss": 0.5, "eval_loss": math.log(2) + 0.01}, gate, "dpo")["passed"]
    acc = GateSettings(min_reward_accuracy=0.6)
    assert not ev.apply_gate({"train_loss": 0.6, "eval_accuracy": 0.5}, acc, "reward")["passed"]
    assert ev.apply_gate({"train_loss": 0.0, "reward_mean": 0.3}, gate, "grpo")["passed"]
    off = ev.apply_gate(
        {"train_loss": 2.0, "eval_loss": 9.0, "base_eval_loss": 2.0}, GateSettings(enabled=False), "sft"
    )
    assert off["passed"] and not off["checks"][1]["passed"]  # recorded, not enforced


def test_check_outputs(tmp_path):
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "metrics.json",
        "training_config.json",
    ):
        (tmp_path / name).write_text("{}")
    assert ev.check_outputs(str(tmp_path))["kind"] == "adapter"
    (tmp_path / "adapter_model.safetensors").unlink()
    with pytest.raises(ev.GateFailed, match="missing weights"):
        ev.check_outputs(str(tmp_path))


def test_base_model_fingerprint(tmp_path):
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "model.safetensors").write_bytes(b"w" * 100)
    a = ev.base_model_fingerprint(str(tmp_path))
    assert a["weights_hashed"] and len(a["base_model_hash"]) == 64
    (tmp_path / "model.safetensors").write_bytes(b"v" * 100)
    assert ev.base_model_fingerprint(str(tmp_path))["base_model_hash"] != a["base_model_hash"]
    big = ev.base_model_fingerprint(str(tmp_path), max_hash_bytes=10)
    assert big["weights_hashed"] is False


def test_local_backend_streams_lines_and_reports_failures(monkeypatch, tmp_path):
    from llmops_airflow import local_training

    assert local_training.training_command("s3://b/c.json", "py") == [
        "py",
        "-m",
        "include.training.train",
        "--config",
        "s3://b/c.json",
    ]
    lines: list[str] = []
    script = tmp_path / "fake_train.py"
    script.write_text(
        "import sys\nprint('step 1/2 loss=1.0', flush=True)\nprint('step 2/2 loss=0.5')\n"
        "sys.exit(int(sys.argv[-1]))\n"
    )
    monkeypatch.setattr(
        local_training, "training_command", lambda uri, python=None: [sys.executable, str(script), uri]
    )
    facts = local_training.in_process_launcher("local").launch(None, "0", on_line=lines.append)
    assert facts["exit_code"] == 0 and "step 1/2 loss=1.0" in lines and "step 2/2 loss=0.5" in lines
    with pytest.raises(backends.BackendError, match=r"(?s)exit code 3.*step 2/2 loss=0.5"):
        local_training.LocalTraining().launch(None, "3", on_line=lines.append)


def test_backend_validation_names_the_missing_settings():
    cfg = load_training_config(
        base_model="x", backend="kubernetes", dataset_uri="s3://b/d", output_uri="s3://b/o"
    )
    with pytest.raises(backends.BackendError, match=r"needs kubernetes\.image"):
        backends.get_backend("kubernetes").validate(cfg)
    with pytest.raises(backends.BackendError, match=r"needs sagemaker\.image_uri, sagemaker\.role_arn"):
        backends.get_backend("sagemaker").validate(cfg)
    local_paths = load_training_config(
        base_model="x", dataset_uri="/data/curated", output_uri="s3://b/o", kubernetes={"image": "img:1"}
    )
    with pytest.raises(backends.BackendError, match=r"needs s3:// URIs.*dataset_uri='/data/curated'"):
        backends.get_backend("kubernetes").validate(local_paths)
    backends.get_backend("local").validate(cfg)
    from llmops_airflow.local_training import in_process_launcher

    with pytest.raises(backends.BackendError, match="launched by the finetune_adapter DAG's train_sagemaker"):
        in_process_launcher("sagemaker")
    with pytest.raises(backends.BackendError, match="unknown backend"):
        backends.get_backend("slurm")


def test_every_configurable_backend_has_a_validator_and_a_train_task():
    from llmops_airflow.finetune_defaults import TRAIN_OPERATORS, TRAIN_TASK_IDS

    from include.config.training import BACKENDS

    assert tuple(backends.BACKEND_FACTORIES) == BACKENDS == tuple(TRAIN_TASK_IDS)
    assert set(TRAIN_OPERATORS) == set(BACKENDS) - {"local"}
    assert [backends.get_backend(name).name for name in BACKENDS] == list(BACKENDS)


def test_gate_against_production_and_its_record():
    gate = GateSettings()
    m = {"train_loss": 2.0, "eval_loss": 1.9, "base_eval_loss": 2.0, "eval_perplexity": math.exp(1.9)}
    skipped = ev.apply_gate(
        {**m, "production_check": "skipped: no production adapter in the registry"}, gate, "sft"
    )
    prod = [c for c in skipped["checks"] if "production" in c["check"]]
    assert skipped["passed"] and skipped["status"] == "passed" and skipped["reasons"] == []
    assert prod[0]["skipped"] and prod[0]["reason"] == "skipped: no production adapter in the registry"
    ok = ev.apply_gate({**m, "production_eval_loss": 1.88, "production_version": 3}, gate, "sft")
    check = next(c for c in ok["checks"] if c["check"] == "eval_loss / production v3 eval_loss")
    assert ok["passed"] and check["value"] == pytest.approx(1.9 / 1.88) and check["threshold"] == 1.02
    assert ok["compared"]["production_eval_loss"] == 1.88 and ok["compared"]["base_eval_loss"] == 2.0
    drift = ev.apply_gate({**m, "production_eval_loss": 1.7, "production_version": 3}, gate, "sft")
    assert not drift["passed"] and drift["status"] == "failed"
    assert drift["reasons"] == [f"eval_loss / production v3 eval_loss={1.9 / 1.7} (needs <= 1.02)"]
    off = ev.apply_gate({**m, "production_eval_loss": 1.7}, GateSettings(compare_to_production=False), "sft")
    assert off["passed"] and not any("production" in c["check"] for c in off["checks"])


def test_lineage_manifest_fields():
    m = ev.lineage_manifest(
        cfg_dict={"base_model": "b", "method": "sft", "peft": "lora"},
        config_hash="h",
        trainset_info={
            "source_uri": "s3://x/curated",
            "dataset_manifest": "s3://x/manifest.json",
            "dataset_content_hash": "d",
            "train_rows": 3,
        },
        metrics={
            "eval_loss": 1.0,
            "libraries": {"trl": "1.16.0"},
            "code_version": "abc",
            "resolved": {"chat_template_hash": "t"},
            "trainset": {},
        },
        evaluation={"passed": True},
        model_uri="/m",
        base={"base_model_hash": "bh", "base_model_revision": None},
        tokenizer_hash="th",
        run_id="r",
    )
    assert m["dataset_manifest_uri"] == "s3://x/manifest.json" and m["dataset_content_hash"] == "d"
    assert m["metrics"] == {"eval_loss": 1.0, "code_version": "abc"} and m["library_versions"] == {
        "trl": "1.16.0"
    }
    assert m["chat_template_hash"] == "t" and m["tokenizer_hash"] == "th" and m["gate"] == {"passed": True}
    assert json.dumps(m)
