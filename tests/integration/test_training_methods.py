"""Every training method runs a few real steps on the tiny model (CPU) and writes loadable output.

SFT (full, LoRA, QLoRA), reward model, DPO (adapter-disabled and explicit reference), GRPO
from the trained reward model (and RLOO); the entry point as a process reading and writing
s3:// on a real S3 server (moto on 127.0.0.1).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from include.config.training import load_training_config
from include.training import dataset as ds
from include.training import devices, methods, models
from include.training import tokenization as tk
from include.training.train import EXIT_CONFIG_ERROR, quiet_third_party, run

pytestmark = pytest.mark.slow

quiet_third_party()


def _cfg(tiny_model_dir, canonical_dir, out, method="sft", peft="lora", **sections):
    base = {
        "data": {"max_length": 128, "max_prompt_length": 64, "max_rows": 12, "eval_fraction": 0.2},
        "train": {
            "max_steps": 3,
            "per_device_train_batch_size": 2,
            "per_device_eval_batch_size": 4,
            "learning_rate": 5e-3,
            "logging_steps": 1,
        },
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return load_training_config(
        base,
        base_model=str(tiny_model_dir),
        method=method,
        peft=peft,
        dataset_uri=str(canonical_dir),
        output_uri=str(out),
    )


def _generate_one_token(model, tokenizer):
    import torch

    enc = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Find a recipe with rice"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    enc = {k: v.to(model.device) for k, v in enc.items()}
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=1, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] == enc["input_ids"].shape[1] + 1
    return out


def _load_adapter(out, tiny_model_dir, **kwargs):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, **kwargs)
    return PeftModel.from_pretrained(base, str(out)), AutoTokenizer.from_pretrained(out)


@pytest.fixture(scope="module")
def sft_lora(tiny_model_dir, canonical_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft-lora")
    return out, run(_cfg(tiny_model_dir, canonical_dir, out))


@pytest.fixture(scope="module")
def reward_lora(tiny_model_dir, canonical_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reward-lora")
    return out, run(_cfg(tiny_model_dir, canonical_dir, out, method="reward"))


def test_sft_lora_adapter_reloads_and_generates(sft_lora, tiny_model_dir):
    out, metrics = sft_lora
    files = {p.name for p in out.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "chat_template.jinja",
        "metrics.json",
        "training_config.json",
    } <= files
    assert "model.safetensors" not in files and "training_args.bin" not in files
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert adapter_cfg["r"] == 8 and sorted(adapter_cfg["target_modules"]) == [
        "k_proj",
        "o_proj",
        "q_proj",
        "v_proj",
    ]
    model, tok = _load_adapter(out, tiny_model_dir)
    _generate_one_token(model, tok)
    assert json.loads((out / "training_config.json").read_text())["lora"]["r"] == 8


def test_sft_metrics_json(sft_lora):
    out, metrics = sft_lora
    m = json.loads((out / "metrics.json").read_text())
    assert m == json.loads(json.dumps(metrics, default=str))
    assert m["global_steps"] == 3 and math.isfinite(m["train_loss"])
    assert m["epochs"] and {"epoch", "train_loss", "eval_loss"} <= set(m["epochs"][0])
    assert m["base_eval_loss"] > 0 and m["eval_loss"] > 0
    assert m["eval_perplexity"] == pytest.approx(math.exp(m["eval_loss"]))
    assert m["base_eval_perplexity"] == pytest.approx(math.exp(m["base_eval_loss"]))
    assert 0 < m["tokens_trained"] < m["tokens_total"]
    assert m["pct_tokens_trained"] == pytest.approx(100 * m["tokens_trained"] / m["tokens_total"], abs=0.01)
    assert m["peak_memory_bytes"] > 0 and m["peak_memory_source"].startswith(("ru_maxrss", "torch.cuda"))
    assert m["wall_seconds"] >= m["train_seconds"] > 0
    assert m["resolved"]["chat_template_source"] == "named:llmops_chatml"
    assert m["trainset"]["dataset_content_hash"] and m["libraries"]["trl"] == "1.16.0"


def test_sft_trainer_trains_exactly_our_assistant_labels(tiny_model_dir, canonical_dir, tmp_path):
    cfg = _cfg(tiny_model_dir, canonical_dir, tmp_path / "o")
    ts = ds.prepare_training_set(cfg.dataset_uri, "sft", cfg.data)
    trainer, tok, facts = methods.build_trainer(cfg, ts, str(tmp_path / "t"), tmp_path)
    template = tok.chat_template
    ours = [tk.tokenize_sft(e, tok, template, 128) for e in ts.train]
    ours = [o for o in ours if any(label != -100 for label in o["labels"])]
    got = trainer.train_dataset
    assert len(got) == len(ours) == facts["train_tokens"]["examples"]
    for row, mine in zip(got, ours, strict=True):
        assert row["input_ids"] == mine["input_ids"] and row["labels"] == mine["labels"]
    assert any(-100 in row["labels"] for row in got)  # trl did not fall back to training every token


def test_sft_full_finetune_writes_full_model(tiny_model_dir, canonical_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "full"
    m = run(_cfg(tiny_model_dir, canonical_dir, out, peft="none", train={"learning_rate": 1e-3}))
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    assert m["resolved"]["weights_dtype"] == "float32"  # fp32 master weights (mixed precision on GPU)
    model = AutoModelForCausalLM.from_pretrained(out)
    _generate_one_token(model, AutoTokenizer.from_pretrained(out))


def test_qlora_quantization_config_is_nf4_double_quant(tiny_model_dir):
    import torch

    cfg = load_training_config(base_model=str(tiny_model_dir), peft="qlora")
    q = models.quantization_config(cfg)
    assert q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant is True
    expected = (
        torch.bfloat16 if (torch.cuda.is_available() or devices.cpu_has_native_bf16()) else torch.float32
    )
    assert q.bnb_4bit_compute_dtype == expected
    forced = load_training_config(base_model="x", peft="qlora", quantization={"compute_dtype": "bfloat16"})
    assert models.quantization_config(forced).bnb_4bit_compute_dtype == torch.bfloat16


def test_qlora_trains_for_real_on_this_machine(tiny_model_dir, canonical_dir, tmp_path):
    """bitsandbytes 0.50 has a CPU 4-bit backend: QLoRA runs here for real (no fake)."""
    import bitsandbytes as bnb

    assert devices.check_qlora_supported() in ("cpu", "cuda")
    cfg = _cfg(tiny_model_dir, canonical_dir, tmp_path / "q", peft="qlora")
    model = models.load_model(cfg)
    assert getattr(model, "is_loaded_in_4bit", False)
    q_proj = model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, bnb.nn.Linear4bit) and q_proj.weight.quant_type == "nf4"
    assert q_proj.weight.quant_state.nested  # double quantization
    m = run(cfg)
    assert m["resolved"]["weights_dtype"] == "4bit-nf4" and math.isfinite(m["eval_loss"])
    model, tok = _load_adapter(
        tmp_path / "q", tiny_model_dir, quantization_config=models.quantization_config(cfg)
    )
    _generate_one_token(model, tok)


def test_qlora_gradient_flows_through_the_4bit_base_after_an_eval_pass(tiny_model_dir):
    """An eval pass (base-model eval, GRPO generation) must not switch the 4-bit layers to bitsandbytes'
    inference-only CPU layout, whose op has no autograd kernel (the input gradient would be dropped)."""
    import bitsandbytes as bnb
    import torch

    model = models.load_model(load_training_config(base_model=str(tiny_model_dir), peft="qlora"))
    model.eval()
    with torch.no_grad():
        model(input_ids=torch.randint(0, 500, (1, 8), device=model.device))
    model.train()
    lin = model.model.layers[0].self_attn.q_proj
    assert not getattr(lin.weight.quant_state, "packing_format_for_cpu", False)
    x = torch.randn(3, lin.in_features, device=lin.weight.device, requires_grad=True)
    lin(x).sum().backward()
    w = bnb.functional.dequantize_4bit(lin.weight.data, lin.weight.quant_state).float()
    assert x.grad is not None and torch.allclose(x.grad, w.sum(0).expand(3, -1), atol=1e-2)


def test_qlora_without_cuda_or_cpu_backend_fails_before_loading(tiny_model_dir, monkeypatch):
    import bitsandbytes.functional as bf
    import transformers

    def broken(*a, **k):
        raise NotImplementedError("no kernel for 4-bit on this device")

    def must_not_load(*a, **k):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(devices, "has_cuda", lambda: False)
    monkeypatch.setattr(bf, "quantize_4bit", broken)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", must_not_load)
    cfg = load_training_config(base_model=str(tiny_model_dir), peft="qlora")
    with pytest.raises(devices.QLoRAUnsupported, match="QLoRA needs a CUDA GPU"):
        models.load_model(cfg)


def test_reward_model_scores_and_reloads(reward_lora, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, m = reward_lora
    assert m["eval_accuracy"] is not None and 0 <= m["eval_accuracy"] <= 1
    assert m["base_eval_loss"] is not None and m["resolved"]["train_pairs"]["examples"] > 0
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert adapter_cfg["task_type"] == "SEQ_CLS"
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model = PeftModel.from_pretrained(base, str(out))
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok(["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>"], return_tensors="pt")
    with torch.no_grad():
        assert model(**enc).logits.shape == (1, 1)
    merged, rtok = models.load_reward_model(str(out), out)
    scorer = methods.RewardModelScorer(merged, rtok, max_length=64)
    scores = scorer(
        [[{"role": "user", "content": "hi"}]] * 2,
        [[{"role": "assistant", "content": "hello"}], [{"role": "assistant", "content": "go away"}]],
    )
    assert len(scores) == 2 and all(math.isfinite(s) for s in scores)


def test_dpo_lora_reference_is_the_base_with_adapter_disabled(tiny_model_dir, canonical_dir, tmp_path):
    out = tmp_path / "dpo"
    m = run(_cfg(tiny_model_dir, canonical_dir, out, method="dpo", dpo={"beta": 0.2, "loss_type": "ipo"}))
    assert m["resolved"]["reference"] == "base model with the adapter disabled"
    assert json.loads((out / "training_config.json").read_text())["dpo"] == {
        "beta": 0.2,
        "loss_type": "ipo",
        "label_smoothing": 0.0,
        "reference_model": None,
    }
    model, tok = _load_adapter(out, tiny_model_dir)
    _generate_one_token(model, tok)


def test_dpo_full_finetune_uses_an_explicit_reference_model(tiny_model_dir, canonical_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "dpo-full"
    m = run(
        _cfg(
            tiny_model_dir,
            canonical_dir,
            out,
            method="dpo",
            peft="none",
            dpo={"reference_model": str(tiny_model_dir)},
        )
    )
    assert m["resolved"]["reference"] == f"explicit reference model: {tiny_model_dir}"
    # untrained policy == reference: the sigmoid DPO loss starts at ln 2
    assert m["base_eval_loss"] == pytest.approx(math.log(2), abs=1e-3)
    _generate_one_token(AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out))


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_rl_from_the_trained_reward_model(reward_lora, tiny_model_dir, canonical_dir, tmp_path, algorithm):
    reward_dir, _ = reward_lora
    out = tmp_path / algorithm
    m = run(
        _cfg(
            tiny_model_dir,
            canonical_dir,
            out,
            method="grpo",
            grpo={
                "reward_model": str(reward_dir),
                "algorithm": algorithm,
                "num_generations": 2,
                "max_completion_length": 6,
            },
            train={"max_steps": 2},
        )
    )
    assert m["global_steps"] == 2 and m["reward_mean"] is not None and math.isfinite(m["reward_mean"])
    assert m["resolved"]["reward_function"].startswith(f"reward model {reward_dir}")
    model, tok = _load_adapter(out, tiny_model_dir)
    _generate_one_token(model, tok)


def test_entry_point_process_reads_and_writes_s3(tiny_model_dir, canonical_dir, s3_bucket, tmp_path):
    """``python -m include.training.train --config FILE`` with s3:// dataset and output."""
    import boto3

    s3 = boto3.client("s3")
    for f in sorted(canonical_dir.iterdir()):
        s3.upload_file(str(f), s3_bucket, f"curated/{f.name}")
    cfg = _cfg(tiny_model_dir, canonical_dir, "unused", train={"max_steps": 2})
    cfg = cfg.model_copy(
        update={"dataset_uri": f"s3://{s3_bucket}/curated", "output_uri": f"s3://{s3_bucket}/out"}
    )
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    proc = subprocess.run(
        [sys.executable, "-m", "include.training.train", "--config", str(cfg_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "step 1/2" in proc.stdout and "step 2/2" in proc.stdout  # live progress lines
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="out/")["Contents"]}
    assert {
        "out/adapter_model.safetensors",
        "out/metrics.json",
        "out/training_config.json",
        "out/tokenizer.json",
    } <= keys
    metrics = json.loads(s3.get_object(Bucket=s3_bucket, Key="out/metrics.json")["Body"].read())
    assert metrics["trainset"]["source_uri"] == f"s3://{s3_bucket}/curated" and metrics["global_steps"] == 2


def test_model_folders_on_s3_are_downloaded_once(s3_bucket, tmp_path, tiny_model_dir):
    import boto3

    s3 = boto3.client("s3")
    for f in sorted(tiny_model_dir.iterdir()):
        s3.upload_file(str(f), s3_bucket, f"models/tiny/{f.name}")
    local = models.local_model_path(f"s3://{s3_bucket}/models/tiny", tmp_path)
    assert sorted(p.name for p in tmp_path.joinpath("downloaded").iterdir()) == [f"{s3_bucket}_models_tiny"]
    assert (tmp_path / "downloaded" / f"{s3_bucket}_models_tiny" / "model.safetensors").read_bytes() == (
        tiny_model_dir / "model.safetensors"
    ).read_bytes()
    assert models.local_model_path(f"s3://{s3_bucket}/models/tiny", tmp_path) == local
    assert models.local_model_path(str(tiny_model_dir), tmp_path) == str(tiny_model_dir)


def test_entry_point_rejects_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_model: x\nlora: {r: 0}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "include.training.train", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_CONFIG_ERROR == 2 and "lora.r" in proc.stderr
