"""Loading what a method trains: tokenizer, base model (4-bit for QLoRA), LoRA and quantization
configs, and a trained reward model. Model folders given as s3:// are downloaded first.

Everything heavy is imported inside functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from include.config.training import TrainingConfig
from include.training.devices import check_qlora_supported, qlora_compute_dtype_name, weights_dtype_name


def quantization_config(cfg: TrainingConfig):
    """The ``BitsAndBytesConfig`` QLoRA loads the base with: 4-bit NF4, double quantization."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=cfg.quantization.quant_type,
        bnb_4bit_use_double_quant=cfg.quantization.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, qlora_compute_dtype_name(cfg)),
    )


def lora_config(cfg: TrainingConfig, task_type: str = "CAUSAL_LM"):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        bias=cfg.lora.bias,
        task_type=task_type,
    )


def local_model_path(uri: str, workdir: Path) -> str:
    """A model folder given as s3:// is downloaded to ``workdir`` (hub ids and local paths pass through)."""
    from include import storage

    if not storage.is_s3(uri):
        return storage.local_path(uri)
    target = workdir / "downloaded" / uri.split("://", 1)[1].replace("/", "_")
    if not target.exists():
        import shutil

        partial = target.with_name(target.name + ".partial")
        for f in storage.list_files(uri):
            dest = partial / f.relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            with storage.open_input(f.uri) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out, 8 << 20)
        partial.rename(target)
    return str(target)


def load_tokenizer(cfg: TrainingConfig, path: str | None = None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path or cfg.base_model, revision=cfg.base_model_revision)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(cfg: TrainingConfig, *, sequence_classification: bool = False, path: str | None = None):
    """The base model for ``cfg`` (4-bit + k-bit preparation for QLoRA)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"revision": cfg.base_model_revision}
    if cfg.peft == "qlora":
        device = check_qlora_supported()
        kwargs["quantization_config"] = quantization_config(cfg)
        kwargs["dtype"] = getattr(torch, qlora_compute_dtype_name(cfg))
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
    else:
        kwargs["dtype"] = getattr(torch, weights_dtype_name(cfg))
    cls = AutoModelForSequenceClassification if sequence_classification else AutoModelForCausalLM
    if sequence_classification:
        kwargs["num_labels"] = 1
    model = cls.from_pretrained(path or cfg.base_model, **kwargs)
    if cfg.peft == "qlora":
        from peft import prepare_model_for_kbit_training

        keep_4bit_layout_trainable(model)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.train.gradient_checkpointing
        )
    return model


def keep_4bit_layout_trainable(model) -> int:
    """On CPUs with AVX512-BF16, bitsandbytes repacks a ``Linear4bit`` weight into an
    inference-only layout the first time it runs in eval mode without grad (trainer.evaluate,
    GRPO generation); afterwards even training forwards go through ``gemv_4bit``, which has no
    autograd kernel, so the gradient through the frozen base would be dropped silently. Turning
    the repacking off keeps the standard NF4 layout and bitsandbytes' autograd matmul. Returns
    the number of layers changed (0 on GPU / other CPUs)."""
    import bitsandbytes as bnb

    n = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


def load_reward_model(uri: str, workdir: Path, dtype_name: str = "float32"):
    """A reward model saved by ``method=reward``: a full model folder, or a LoRA adapter
    (``adapter_config.json``) merged into its base. Returns (model, tokenizer)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = Path(local_model_path(uri, workdir))
    dtype = getattr(torch, dtype_name)
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        adapter_cfg = json.loads((path / "adapter_config.json").read_text())
        base = adapter_cfg.get("base_model_name_or_path")
        meta = path / "training_config.json"
        if meta.exists():
            base = json.loads(meta.read_text()).get("base_model") or base
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=dtype)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=dtype)
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.pad_token_id
    model.eval()
    return model, tok
