"""Typed configuration of a fine-tuning run (``finetune_adapter`` DAG and ``python -m include.training.train``).

Defaults live in ``training_default.yaml`` (every key, commented); overrides are deep-merged
over it and validated up front: :func:`load_training_config` raises
:class:`~include.config.ConfigError` naming each bad key (``lora.r: Input should be greater
than or equal to 1``) before anything is loaded or launched.

Sections: ``data`` (training-set builder), ``lora`` / ``quantization`` (PEFT), ``train``
(optimisation, shared by every method), ``dpo`` / ``reward`` / ``grpo`` (method specific),
``gate`` (evaluation gate), ``planner`` (GPU memory planner and catalog).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from include.config import ConfigError, deep_merge, parse_overrides
from include.config.base import _Strict

DEFAULT_TRAINING_CONFIG_PATH = Path(__file__).with_name("training_default.yaml")

METHODS = ("sft", "reward", "dpo", "grpo")
PEFT_MODES = ("none", "lora", "qlora")
BACKENDS = ("local", "kubernetes", "sagemaker")
Method = Literal["sft", "reward", "dpo", "grpo"]
PeftMode = Literal["none", "lora", "qlora"]
Backend = Literal["local", "kubernetes", "sagemaker"]
Optimizer = Literal[
    "adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit",
    "adafactor", "sgd",
]


class DataSettings(_Strict):
    """Training-set builder: canonical rows -> the trainer's dataset."""

    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)  # share of rows in the eval split (by id hash)
    min_eval_rows: int = Field(1, ge=0)  # at least this many eval rows when the set has more than 1 row
    split_seed: str = "llmops-split-v1"  # salt of the id hash: changing it reshuffles the split
    chat_template: str | None = None  # None: tokenizer's template, else the shipped llmops_chatml; a name or inline Jinja
    assistant_only_loss: bool = True  # SFT: loss only on assistant tokens (system/user/tool tokens get label -100)
    max_length: int = Field(1024, ge=8)  # tokens per training sequence (truncated, keep start)
    max_prompt_length: int = Field(512, ge=8)  # GRPO prompts longer than this (tokens) are left out
    max_rows: int | None = Field(None, ge=1)  # cap rows per split after the split (None = all)


class LoraSettings(_Strict):
    """LoRA adapter (``peft: lora`` and ``peft: qlora``)."""

    r: int = Field(8, ge=1)  # rank; the seed's default r=8
    alpha: int = Field(16, ge=1)  # scaling = alpha / r
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    bias: Literal["none", "all", "lora_only"] = "none"


class QuantizationSettings(_Strict):
    """bitsandbytes 4-bit loading of the frozen base (``peft: qlora``)."""

    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True  # quantize the quantization constants too (~0.37 bit/param saved)
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"  # auto: bf16 where supported


class TrainSettings(_Strict):
    """Optimisation settings shared by every method (mapped onto trl/transformers TrainingArguments)."""

    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = Field(4, ge=1)
    per_device_eval_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    learning_rate: float | None = Field(None, gt=0)  # None: per method/PEFT default (see methods.default_lr)
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    optim: Optimizer = "adamw_torch"
    gradient_checkpointing: bool = True
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # compute dtype; auto: bf16/fp16 on GPU, fp32 on CPU
    weights_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: fp32 master weights for full FT
    seed: int = 42
    logging_steps: int = Field(10, ge=1)  # a progress line (and a logged loss) every N steps; the first step always
    eval_strategy: Literal["epoch", "no"] = "epoch"
    dataloader_num_workers: int = Field(0, ge=0)


class DpoSettings(_Strict):
    beta: float = Field(0.1, gt=0)  # strength of the KL anchor to the reference
    loss_type: Literal[
        "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired",
        "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
    ] = "sigmoid"
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)
    reference_model: str | None = None  # full fine-tuning only; None = a second copy of base_model


class RewardSettings(_Strict):
    center_rewards_coefficient: float | None = None  # e.g. 0.01 keeps rewards centred around 0


class GrpoSettings(_Strict):
    """RL from a reward model (trl 1.16 has no PPOTrainer: GRPO, or RLOO)."""

    algorithm: Literal["grpo", "rloo"] = "grpo"
    reward_model: str | None = None  # path or s3:// URI of a model trained with method=reward (required)
    num_generations: int = Field(4, ge=2)  # completions sampled per prompt (the group)
    max_completion_length: int = Field(128, ge=1)
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0.0)  # KL coefficient; 0 = no reference model (trl default)
    reward_batch_size: int = Field(8, ge=1)


class GateSettings(_Strict):
    """Evaluation gate applied before registration."""

    enabled: bool = True
    # SFT/full: eval loss of the trained model / eval loss of the base model on the same split must be <= this
    max_eval_loss_ratio: float = Field(1.0, gt=0)
    # reward: pairwise accuracy on the eval split must be >= this (0.5 = chance)
    min_reward_accuracy: float = Field(0.0, ge=0.0, le=1.0)
    require_finite_metrics: bool = True


class GpuSpec(_Strict):
    """One GPU offering: per-device memory as ``nvidia-smi`` reports it, and how to get it."""

    name: str
    memory_mib: int = Field(..., ge=1024)
    bf16: bool = True
    sagemaker_instance: str | None = None  # smallest SageMaker training instance with this GPU
    gpus_per_instance: int = Field(1, ge=1)
    k8s_gpu_product: str | None = None  # value of the nvidia.com/gpu.product node label


class PlannerSettings(_Strict):
    enabled: bool = True
    margin: float = Field(0.10, ge=0.0, lt=0.9)  # keep this share of device memory free
    cuda_overhead_mib: int = Field(1024, ge=0)  # CUDA context, cuBLAS workspace, allocator slack
    gpu: str | None = None  # force this catalog entry (fail if it does not fit)
    catalog: list[GpuSpec] = []

    @model_validator(mode="after")
    def _gpu_in_catalog(self):
        if self.gpu is not None and self.gpu not in {g.name for g in self.catalog}:
            raise ValueError(f"planner.gpu {self.gpu!r} is not in the catalog: {', '.join(g.name for g in self.catalog)}")
        return self


class TrainingConfig(_Strict):
    """Everything a training run needs; written as ``training_config.json`` next to the model."""

    base_model: str = ""  # hub id (needs HF cache / network) or local folder
    base_model_revision: str | None = None
    method: Method = "sft"
    peft: PeftMode = "lora"
    backend: Backend = "local"
    dataset_uri: str = ""  # canonical Parquet folder, or a training set built by include.training.dataset
    output_uri: str = ""  # where the model/adapter, tokenizer, metrics.json and training_config.json go
    data: DataSettings = DataSettings()
    lora: LoraSettings = LoraSettings()
    quantization: QuantizationSettings = QuantizationSettings()
    train: TrainSettings = TrainSettings()
    dpo: DpoSettings = DpoSettings()
    reward: RewardSettings = RewardSettings()
    grpo: GrpoSettings = GrpoSettings()
    gate: GateSettings = GateSettings()
    planner: PlannerSettings = PlannerSettings()

    @model_validator(mode="after")
    def _method_constraints(self):
        if self.method == "grpo" and not self.grpo.reward_model:
            raise ValueError("grpo.reward_model is required for method=grpo (train one with method=reward first)")
        if self.method == "dpo" and self.peft != "none" and self.dpo.reference_model:
            raise ValueError("dpo.reference_model is only used with peft=none: with an adapter the reference is "
                             "the base model with the adapter disabled")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


SECTIONS = ("data", "lora", "quantization", "train", "dpo", "reward", "grpo", "gate", "planner")


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


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key")
        else:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})" if loc != "config" else f"  {err['msg']}")
    return "invalid training config:\n" + "\n".join(lines)


def default_training_dict() -> dict:
    return yaml.safe_load(DEFAULT_TRAINING_CONFIG_PATH.read_text())


def load_training_config(overrides: dict | str | Path | None = None, **fields: Any) -> TrainingConfig:
    """Defaults deep-merged with ``overrides`` (dict, JSON/YAML text or file) and ``fields``; validated."""
    merged = deep_merge(default_training_dict(), parse_overrides(overrides))
    merged = deep_merge(merged, {k: v for k, v in fields.items() if v is not None})
    try:
        return TrainingConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
