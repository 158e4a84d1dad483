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
from include.config.base import _Strict

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

    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)  # share of rows in the eval split (by id hash)
    min_eval_rows: int = Field(1, ge=0)  # at least this many eval rows when the set has more than 1 row
    split_seed: str = "llmops-split-v1"  # salt of the id hash: changing it reshuffles the split
    chat_template: str | None = (
        None  # None: tokenizer's template, else the shipped llmops_chatml; a name or inline Jinja
    )
    assistant_only_loss: bool = (
        True  # SFT: loss only on assistant tokens (system/user/tool tokens get label -100)
    )
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
    precision: Literal["auto", "bf16", "fp16", "fp32"] = (
        "auto"  # compute dtype; auto: bf16/fp16 on GPU, fp32 on CPU
    )
    weights_dtype: Literal["auto", "float32", "bfloat16", "float16"] = (
        "auto"  # auto: fp32 master weights for full FT
    )
    seed: int = 42
    logging_steps: int = Field(
        10, ge=1
    )  # a progress line (and a logged loss) every N steps; the first step always
    eval_strategy: Literal["epoch", "no"] = "epoch"
    dataloader_num_workers: int = Field(0, ge=0)
    # local folder for resumable checkpoints (None = no checkpoints); a run finding checkpoint-* there resumes
    # from the newest. SageMaker managed spot sets it to /opt/ml/checkpoints.
    checkpoint_dir: str | None = None
    save_steps: int = Field(100, ge=1)  # checkpoint every N steps (with checkpoint_dir)
    save_total_limit: int = Field(2, ge=1)  # checkpoints kept in checkpoint_dir


class DpoSettings(_Strict):
    beta: float = Field(0.1, gt=0)  # strength of the KL anchor to the reference
    loss_type: Literal[
        "sigmoid",
        "hinge",
        "ipo",
        "exo_pair",
        "nca_pair",
        "robust",
        "bco_pair",
        "sppo_hard",
        "aot",
        "aot_unpaired",
        "apo_zero",
        "apo_down",
        "discopop",
        "sft",
        "sigmoid_norm",
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
    # drift after repeated fine-tunes: eval loss of the new model / eval loss of the adapter aliased `production`
    # (evaluated by the entry point on the same held-out split with the same code) must be <= this
    compare_to_production: bool = True
    max_eval_loss_ratio_vs_production: float = Field(1.02, gt=0)
    # set by finetune_adapter's plan from the registry's production alias (not part of the registry identity)
    production_adapter_uri: str | None = None
    production_version: int | None = None


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
            raise ValueError(
                f"planner.gpu {self.gpu!r} is not in the catalog: {', '.join(g.name for g in self.catalog)}"
            )
        return self


class Toleration(_Strict):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


K8S_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class KubernetesSettings(_Strict):
    """``backend: kubernetes``: a GPU pod started with the cncf-kubernetes ``KubernetesPodOperator``."""

    image: str = (
        ""  # training image (Dockerfile.training), e.g. registry.example.com/llmops-training:1.0 (required)
    )
    namespace: str = "llmops"
    kubernetes_conn_id: str = (
        "kubernetes_default"  # Airflow connection; its extra in_cluster: true inside the cluster
    )
    service_account: str | None = "llmops-training"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    gpus: int = Field(1, ge=1)  # nvidia.com/gpu limit
    gpu_resource: str = "nvidia.com/gpu"
    cpu_request: str | None = Field(None, pattern=K8S_QUANTITY)  # None: cpus_per_gpu x gpus
    cpus_per_gpu: int = Field(4, ge=1)
    memory_request: str | None = Field(
        None, pattern=K8S_QUANTITY
    )  # None: planner's required GB + host_overhead_gib
    host_overhead_gib: int = Field(8, ge=0)
    node_selector: dict[
        str, str
    ] = {}  # GPU node pool labels, e.g. {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    select_gpu_product: bool = (
        False  # also require nvidia.com/gpu.product=<planner's GPU> (GPU feature discovery)
    )
    tolerations: list[Toleration] = [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]
    credentials_secret: str | None = (
        "llmops-training-s3"  # Secret whose keys become env (AWS_ACCESS_KEY_ID...)
    )
    s3_endpoint_url: str | None = None  # AWS_ENDPOINT_URL in the pod (MinIO); None: AWS
    env: dict[str, str] = {}  # extra non-secret environment
    labels: dict[str, str] = {}
    startup_timeout_seconds: int = Field(1800, ge=60)  # GPU node scale-up takes minutes
    active_deadline_seconds: int | None = Field(None, ge=60)
    on_finish_action: Literal["delete_pod", "delete_succeeded_pod", "keep_pod"] = "delete_succeeded_pod"
    deferrable: bool = True  # wait in the triggerer, not in a worker slot


class SagemakerSettings(_Strict):
    """``backend: sagemaker``: a SageMaker training job started with the amazon ``SageMakerTrainingOperator``."""

    image_uri: str = ""  # ECR image built from Dockerfile.training (required)
    role_arn: str = (
        ""  # execution role with S3 read/write on the dataset, work and registry buckets (required)
    )
    aws_conn_id: str = "aws_default"
    region_name: str | None = None
    instance_type: str | None = None  # None: the planner's sagemaker_instance
    instance_count: int = Field(1, ge=1)
    volume_size_gb: int = Field(100, ge=1)
    max_runtime_seconds: int = Field(86400, ge=60)
    use_spot: bool = False  # managed spot training (needs checkpoint_s3_uri)
    max_wait_seconds: int | None = Field(None, ge=60)  # spot: >= max_runtime_seconds; None = 2 x max_runtime
    checkpoint_s3_uri: str | None = None  # per-run sub-folder <job base name>/ is used
    output_s3_uri: str | None = None  # None: <run folder>/sagemaker
    job_name_prefix: str = Field("llmops", pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,30}$")
    check_interval_seconds: int = Field(60, ge=1)
    deferrable: bool = True
    print_log: bool = True  # stream the job's CloudWatch log into the task log
    tags: dict[str, str] = {}

    @model_validator(mode="after")
    def _spot_needs_checkpoints(self):
        if self.use_spot and not self.checkpoint_s3_uri:
            raise ValueError(
                "sagemaker.checkpoint_s3_uri is required with sagemaker.use_spot (spot capacity is "
                "reclaimed; training resumes from the checkpoints)"
            )
        if (
            self.use_spot
            and self.max_wait_seconds is not None
            and self.max_wait_seconds < self.max_runtime_seconds
        ):
            raise ValueError("sagemaker.max_wait_seconds must be >= sagemaker.max_runtime_seconds")
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
    kubernetes: KubernetesSettings = KubernetesSettings()
    sagemaker: SagemakerSettings = SagemakerSettings()

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


SECTIONS = (
    "data",
    "lora",
    "quantization",
    "train",
    "dpo",
    "reward",
    "grpo",
    "gate",
    "planner",
    "kubernetes",
    "sagemaker",
)


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
            lines.append(
                f"  {loc}: {err['msg']} (got {err.get('input')!r})" if loc != "config" else f"  {err['msg']}"
            )
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
