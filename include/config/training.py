"""Typed configuration of a fine-tuning run (``finetune_adapter`` DAG and ``python -m include.training.train``).

Defaults live in ``training_default.yaml`` (every key, commented); overrides are deep-merged
over it and validated up front: :func:`load_training_config` raises
:class:`~include.config.ConfigError` naming each bad key (``lora.r: Input should be greater
than or equal to 1``) before anything is loaded or launched.

Sections: ``data`` (training-set builder), ``lora`` / ``quantization`` (PEFT), ``train``
(optimisation, shared by every method), ``dpo`` / ``reward`` / ``grpo`` (method specific),
``gate`` (evaluation gate), ``planner`` (GPU memory planner and catalog), ``kubernetes`` /
``sagemaker`` (remote launch backends).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, model_validator

from include.config import ConfigError, deep_merge, parse_overrides
from include.config.base import ZeroToOne, _Strict, format_errors
from include.config.training_backends import KubernetesSettings, SagemakerSettings
from include.config.training_methods import DpoSettings, GrpoSettings, RewardSettings
from include.config.training_planner import PlannerSettings

DEFAULT_TRAINING_CONFIG_PATH = Path(__file__).with_name("training_default.yaml")

Method = Literal["sft", "reward", "dpo", "grpo"]
PeftMode = Literal["none", "lora", "qlora"]
Backend = Literal["local", "kubernetes", "sagemaker"]
#: the names as tuples (Param enums, messages), derived from the Literals above
METHODS: tuple[str, ...] = get_args(Method)
PEFT_MODES: tuple[str, ...] = get_args(PeftMode)
BACKENDS: tuple[str, ...] = get_args(Backend)
Optimizer = Literal[
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_bnb_8bit",
    "adamw_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adafactor",
    "sgd",
]


class DataSettings(_Strict):
    """Training-set builder: canonical rows -> the trainer's dataset."""

    eval_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="rows whose salted id hash falls below this go to eval (deterministic)",
    )
    min_eval_rows: int = Field(
        1, ge=0, description="at least this many eval rows when the set has more than 1 row"
    )
    split_seed: str = Field(
        "llmops-split-v1", description="salt of the split hash: changing it reshuffles the split"
    )
    chat_template: str | None = Field(
        None,
        description="null: the tokenizer's own, else the shipped llmops_chatml; a template name (llmops_chatml, "
        "or a trl training template such as qwen2_5_training) or an inline Jinja template",
    )
    assistant_only_loss: bool = Field(
        True, description="SFT: loss only on assistant tokens (system/user/tool tokens get label -100)"
    )
    max_length: int = Field(
        1024, ge=8, description="tokens per training sequence (truncated, keeping the start)"
    )
    max_prompt_length: int = Field(
        512, ge=8, description="GRPO: prompts longer than this (tokens) are left out of the RL set"
    )
    max_rows: int | None = Field(None, ge=1, description="cap rows per split after the split (null = all)")
    packing: Literal["none", "greedy", "first_fit"] = Field(
        "none",
        description="SFT: pack tokenized examples into max_length sequences (greedy: in order, first_fit: "
        "longest first into the first bin with room); position ids restart per example (no cross-example "
        "attention with padding-free attention)",
    )
    tokenized_cache: bool = Field(
        True,
        description="SFT: build_set writes the tokenized set as Parquet under <work_uri>/_tokenized/<key>/ "
        "and any run with the same key (dataset, tokenizer, template, max_length, packing) reuses it",
    )
    mask_check_sample: int = Field(
        64, ge=0, description="SFT: examples whose supervised spans are decoded and checked on every build"
    )
    min_supervised_tokens: int = Field(
        1, ge=0, description="SFT: build_set fails when the train split has fewer supervised (label) tokens"
    )
    max_truncated_share: ZeroToOne = Field(
        1.0,
        description="SFT: build_set fails when a larger share of train examples is cut at max_length "
        "(1.0: never; 0.1 is a good production setting)",
    )


class LoraSettings(_Strict):
    """LoRA adapter (``peft: lora`` and ``peft: qlora``)."""

    r: int = Field(8, ge=1, description="rank; the seed's default r=8")
    alpha: int = Field(16, ge=1, description="scaling = alpha / r")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA input")
    target_modules: list[str] | Literal["all-linear"] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj"], description='modules that get adapters, or "all-linear"'
    )
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases are trained")


class QuantizationSettings(_Strict):
    """bitsandbytes 4-bit loading of the frozen base (``peft: qlora``)."""

    quant_type: Literal["nf4", "fp4"] = Field(
        "nf4", description="4-bit data type of the base's linear layers"
    )
    double_quant: bool = Field(
        True, description="quantize the quantization constants too (~0.37 bit/param saved)"
    )
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="auto: bf16 where supported (CUDA with bf16, CPU with AVX512-BF16), else fp16 / fp32",
    )


class TrainSettings(_Strict):
    """Optimisation settings shared by every method (mapped onto trl/transformers TrainingArguments)."""

    num_train_epochs: float = Field(1.0, gt=0, description="passes over the training split")
    max_steps: int = Field(-1, description="> 0 overrides num_train_epochs")
    per_device_train_batch_size: int = Field(4, ge=1, description="sequences per device and step")
    per_device_eval_batch_size: int = Field(4, ge=1, description="sequences per device in evaluation")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps whose gradients make one update")
    learning_rate: float | None = Field(
        None, gt=0, description="null: per method and PEFT default (methods.default_learning_rate)"
    )
    lr_scheduler_type: str = Field("linear", description="transformers learning-rate schedule")
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="share of the steps spent warming up")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    optim: Optimizer = Field("adamw_torch", description="optimizer (8-bit ones need 2 B/param of states)")
    gradient_checkpointing: bool = Field(True, description="recompute activations in backward (less memory)")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="compute dtype; auto: bf16 (or fp16) on GPU, fp32 on CPU"
    )
    weights_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: fp32 master weights for full fine-tuning, the compute dtype for LoRA"
    )
    seed: int = Field(42, description="seed of the trainer (initialisation, shuffling, dropout)")
    logging_steps: int = Field(
        10, ge=1, description="a progress line (and a logged loss) every N steps; the first step always"
    )
    eval_strategy: Literal["epoch", "no"] = Field("epoch", description="evaluate after each epoch, or not")
    dataloader_num_workers: int = Field(0, ge=0, description="data loader worker processes")
    checkpoint_dir: str | None = Field(
        None,
        description="local folder for resumable checkpoints (null = none); a run finding checkpoint-* there "
        "resumes from the newest. SageMaker managed spot sets it to /opt/ml/checkpoints",
    )
    save_steps: int = Field(100, ge=1, description="checkpoint every N steps (with checkpoint_dir)")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept in checkpoint_dir")


class GateSettings(_Strict):
    """Evaluation gate applied before registration."""

    enabled: bool = Field(True, description="false: checks are recorded, not enforced")
    max_eval_loss_ratio: float = Field(
        1.0, gt=0, description="sft: eval_loss / base_eval_loss <= this; dpo: eval_loss / ln(2) <= this"
    )
    min_reward_accuracy: ZeroToOne = Field(
        0.0, description="reward: pairwise eval accuracy >= this (0.5 = chance)"
    )
    require_finite_metrics: bool = Field(True, description="a NaN or infinite loss fails the gate")
    compare_to_production: bool = Field(
        True, description="also evaluate the adapter aliased `production` on the same held-out split"
    )
    max_eval_loss_ratio_vs_production: float = Field(
        1.02, gt=0, description="eval_loss / production eval_loss <= this (drift over repeated fine-tunes)"
    )
    production_adapter_uri: str | None = Field(
        None,
        description="set by finetune_adapter's plan from the registry (not part of the registry identity); "
        "skipped (and recorded) when there is none",
    )
    production_version: int | None = Field(None, description="registry version of production_adapter_uri")


class TrainingConfig(_Strict):
    """Everything a training run needs; written as ``training_config.json`` next to the model."""

    base_model: str = Field("", description="hub id (served from the HF cache) or a local model folder")
    base_model_revision: str | None = Field(
        None, description="hub revision / commit; recorded in the adapter manifest"
    )
    method: Method = Field("sft", description="sft | reward | dpo | grpo")
    peft: PeftMode = Field(
        "lora", description="none (full fine-tuning) | lora | qlora (4-bit NF4 base + LoRA)"
    )
    backend: Backend = Field(
        "local", description="local (worker subprocess) | kubernetes (GPU pod) | sagemaker (training job)"
    )
    dataset_uri: str = Field(
        "",
        description="canonical Parquet folder (curated/), or a training set built by include.training.dataset",
    )
    output_uri: str = Field(
        "", description="where the model/adapter, tokenizer, metrics.json and training_config.json go"
    )
    data: DataSettings = Field(DataSettings(), description=DataSettings.__doc__)
    lora: LoraSettings = Field(LoraSettings(), description=LoraSettings.__doc__)
    quantization: QuantizationSettings = Field(
        QuantizationSettings(), description=QuantizationSettings.__doc__
    )
    train: TrainSettings = Field(TrainSettings(), description=TrainSettings.__doc__)
    dpo: DpoSettings = Field(DpoSettings(), description=DpoSettings.__doc__)
    reward: RewardSettings = Field(RewardSettings(), description=RewardSettings.__doc__)
    grpo: GrpoSettings = Field(GrpoSettings(), description=GrpoSettings.__doc__)
    gate: GateSettings = Field(GateSettings(), description=GateSettings.__doc__)
    planner: PlannerSettings = Field(PlannerSettings(), description=PlannerSettings.__doc__)
    kubernetes: KubernetesSettings = Field(KubernetesSettings(), description=KubernetesSettings.__doc__)
    sagemaker: SagemakerSettings = Field(SagemakerSettings(), description=SagemakerSettings.__doc__)

    @model_validator(mode="after")
    def _method_constraints(self):
        if self.method == "grpo" and not self.grpo.reward_model:
            raise ValueError(
                "grpo.reward_model is required for method=grpo (train one with method=reward first)"
            )
        if self.method == "dpo" and self.peft != "none" and self.dpo.reference_model:
            raise ValueError(
                "dpo.reference_model is only used with peft=none: with an adapter the reference is "
                "the base model with the adapter disabled"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: the sections of the config (data, lora, ..., sagemaker), in order
SECTIONS = tuple(name for name, f in TrainingConfig.model_fields.items() if isinstance(f.default, _Strict))


def hyperparameters_to_overrides(hyperparameters: dict | None) -> dict:
    """The DAG's ``hyperparameters`` object as config overrides.

    Keys naming a section (``{"lora": {"r": 16}}``) merge into it; any other key must be a
    ``train`` setting (``{"learning_rate": 1e-4, "max_steps": 10}`` is short for
    ``{"train": {...}}``). Unknown keys raise ConfigError.
    """
    out: dict = {}
    bad = []
    for key, value in (hyperparameters or {}).items():
        if key in SECTIONS:
            out[key] = deep_merge(out.get(key, {}), value) if isinstance(value, dict) else value
        elif key in TrainSettings.model_fields:
            out.setdefault("train", {})[key] = value
        else:
            bad.append(key)
    if bad:
        raise ConfigError(
            f"invalid training config:\n  hyperparameters: unknown key(s) {', '.join(map(repr, bad))}; use a section "
            f"({', '.join(SECTIONS)}) or a train setting ({', '.join(TrainSettings.model_fields)})"
        )
    return out


def default_training_dict() -> dict:
    return yaml.safe_load(DEFAULT_TRAINING_CONFIG_PATH.read_text())


def load_training_config(overrides: dict | str | Path | None = None, **fields: Any) -> TrainingConfig:
    """Defaults deep-merged with ``overrides`` (dict, JSON/YAML text or file) and ``fields``; validated."""
    merged = deep_merge(default_training_dict(), parse_overrides(overrides))
    merged = deep_merge(merged, {k: v for k, v in fields.items() if v is not None})
    try:
        return TrainingConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, "training")) from None
