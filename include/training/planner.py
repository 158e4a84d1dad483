"""GPU memory planner: estimate peak training memory before launching anything, and pick a GPU.

The memory model (what each byte is, per method and peft, and the seed's 7B table) is
``include/training/memory_model.py``; this module turns a training config into its inputs,
checks the fit against the GPU catalog and formats the plan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from include.training.memory_model import (  # noqa: F401  (re-exported: planner.estimate, …)
    DTYPE_BYTES,
    GB,
    LINEAR_NAMES,
    MIB,
    NF4_BYTES,
    OPTIMIZER_STATE_BYTES,
    QUANT_CONSTANT_BYTES,
    MemoryEstimate,
    PlanError,
    PlanInputs,
    activation_bytes,
    bytes_per_param,
    estimate,
    lora_trainable,
    static_bytes,
)
from include.training.model_shape import ModelShape, load_model_config, meta_parameter_count

# ------------------------------------------------------------------ GPU choice


@dataclass
class GpuChoice:
    gpu: dict | None
    required_bytes: float
    candidates: list[dict]


def choose_gpu(
    required_bytes: float, catalog: list[dict], margin: float, forced: str | None = None
) -> GpuChoice:
    """First catalog entry (preference order) whose memory x (1 - margin) holds ``required_bytes``."""
    rows = []
    for g in catalog:
        usable = g["memory_mib"] * MIB * (1 - margin)
        rows.append(
            {
                **g,
                "usable_bytes": usable,
                "fits": required_bytes <= usable,
                "headroom_gb": round((usable - required_bytes) / GB, 2),
            }
        )
    pool = [r for r in rows if r["name"] == forced] if forced else rows
    chosen = next((r for r in pool if r["fits"]), None)
    return GpuChoice(chosen, required_bytes, rows)


def inputs_from_config(cfg) -> PlanInputs:
    """PlanInputs for a :class:`~include.config.training.TrainingConfig` (on a bf16-capable GPU)."""
    t = cfg.train
    compute = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(t.precision, "bfloat16")
    if t.weights_dtype != "auto":
        weights = t.weights_dtype
    else:
        weights = "float32" if cfg.peft == "none" else compute
    seq = cfg.data.max_prompt_length if cfg.method == "grpo" else cfg.data.max_length
    return PlanInputs(
        method=cfg.method,
        peft=cfg.peft,
        weights_dtype=weights,
        compute_dtype=compute,
        lora_r=cfg.lora.r,
        lora_targets=cfg.lora.target_modules
        if isinstance(cfg.lora.target_modules, str)
        else tuple(cfg.lora.target_modules),
        lora_dropout=cfg.lora.dropout,
        double_quant=cfg.quantization.double_quant,
        batch_size=t.per_device_train_batch_size,
        seq_len=seq,
        gradient_checkpointing=t.gradient_checkpointing,
        optimizer=t.optim,
        grpo_num_generations=cfg.grpo.num_generations,
        grpo_max_completion_length=cfg.grpo.max_completion_length,
        grpo_beta=cfg.grpo.beta,
    )


def plan(cfg, model_config: Any | None = None, exact_count: bool = True) -> dict:
    """The plan for a training config: estimate, required memory, chosen GPU and SageMaker instance.

    Raises :class:`PlanError` (with every number) when nothing in the catalog fits.
    """
    model_config = model_config or load_model_config(cfg.base_model, cfg.base_model_revision)
    shape = ModelShape.from_config(model_config)
    exact = meta_parameter_count(model_config) if exact_count else None
    inp = inputs_from_config(cfg)
    est = estimate(shape, inp, exact)
    required = est.total + cfg.planner.cuda_overhead_mib * MIB
    catalog = [g.model_dump() for g in cfg.planner.catalog]
    choice = choose_gpu(required, catalog, cfg.planner.margin, cfg.planner.gpu)
    result = {
        "model": {
            "base_model": cfg.base_model,
            **asdict(shape),
            "params": est.params,
            "exact_param_count": exact,
            "trainable_params": est.trainable_params,
        },
        "inputs": asdict(inp),
        "estimate_bytes": est.total,
        "components_gb": est.gb(),
        "cuda_overhead_gb": round(cfg.planner.cuda_overhead_mib * MIB / GB, 3),
        "required_gb": round(required / GB, 3),
        "margin": cfg.planner.margin,
        "tokens_per_step": est.tokens_per_step,
        "gpu": choice.gpu["name"] if choice.gpu else None,
        "sagemaker_instance": choice.gpu["sagemaker_instance"] if choice.gpu else None,
        "k8s_gpu_product": choice.gpu["k8s_gpu_product"] if choice.gpu else None,
        "candidates": [
            {k: r[k] for k in ("name", "memory_mib", "fits", "headroom_gb", "sagemaker_instance")}
            for r in choice.candidates
        ],
        "notes": est.notes,
    }
    if choice.gpu is None:
        raise PlanError(format_no_fit(result, cfg.planner.gpu))
    return result


def format_plan(p: dict) -> str:
    comps = ", ".join(f"{k} {v:.2f}" for k, v in p["components_gb"].items() if k != "total")
    return (
        f"estimated peak {p['components_gb']['total']:.2f} GB ({comps}) + CUDA overhead "
        f"{p['cuda_overhead_gb']:.2f} GB = {p['required_gb']:.2f} GB required"
    )


def format_no_fit(p: dict, forced: str | None) -> str:
    cands = "; ".join(
        f"{c['name']} {c['memory_mib'] * MIB / GB:.1f} GB (headroom {c['headroom_gb']:+.1f} GB)"
        for c in p["candidates"]
    )
    where = f"the forced GPU {forced}" if forced else "any GPU in the catalog"
    return (
        f"the run does not fit {where} with a {p['margin']:.0%} margin: {format_plan(p)} for "
        f"{p['model']['base_model']} ({p['model']['params']['total_used'] / 1e9:.2f}B params, method="
        f"{p['inputs']['method']}, peft={p['inputs']['peft']}, batch {p['inputs']['batch_size']} x "
        f"{p['inputs']['seq_len']} tokens). Candidates: {cands}. Lower the batch size or sequence length, "
        "enable gradient checkpointing, use peft=lora/qlora or an 8-bit optimizer."
    )
