"""Peak training memory from a model's shapes: the byte counts the GPU planner uses.

The estimate is weights + trainable-parameter gradients + optimizer states + activations
(+ the LM-head logits, and for DPO/GRPO the extra models), from the model *config* only
(no weights are loaded: parameter counts come from the architecture's shapes, cross-checked
against a ``torch.device("meta")`` instantiation when torch is present).

Bytes per parameter used here (P = parameters, T = trainable parameters):

===============================  =======================  =================================================
part                             full fine-tuning         LoRA / QLoRA
===============================  =======================  =================================================
weights                          P x dtype (fp32 4, bf16  frozen base in bf16: P x 2; QLoRA: linear layers
                                 2)                       NF4 0.5 B + quant constants (0.0159 B with double
                                                          quantization, 0.0625 B without), the rest bf16
adapter weights                  -                        T x 4 (peft keeps adapters fp32; QLoRA: bf16 = 2)
gradients                        P x weight dtype         T x adapter dtype
optimizer (AdamW)                P x 8 (2 fp32 moments)   T x 8
optimizer (8-bit / paged 8-bit)  P x 2                    T x 2
===============================  =======================  =================================================

**The seed's 7B table** (7.0e9 parameters, GB = 1e9 bytes) is what this planner gives for
full fine-tuning with bf16 weights, and for LoRA/QLoRA on Llama-2-7B's shape with 1-2
sequences of 2048 tokens, gradient checkpointing and the 1 GiB CUDA overhead
(``tests/unit/test_planner.py``)::

    full, bf16 weights:  weights 14 + gradients 14 + AdamW 2 fp32 moments 56 = 84 GB + activations
    LoRA (r=8, q/k/v/o): frozen bf16 weights 13.5 + adapter/optimizer 0.13 + activations -> 16.3-18.0 GB
    QLoRA (NF4, DQ):     4-bit weights 3.9 + adapter + activations                      -> 6.7-8.3 GB

(Llama-2-7B itself has 6.74e9 parameters, so its weights are 13.5 GB, not the 14 of a nominal 7.0e9.)

**Where standard mixed-precision AdamW differs.** transformers' "model memory anatomy"
counts 18 bytes/param for mixed-precision AdamW training: fp32 weights 4 + a half copy 2 +
fp32 gradients 4 + AdamW 8 (PyTorch autocast keeps no persistent half copy, so 16 in
practice). That is what full fine-tuning here does by default (``train.weights_dtype:
auto`` loads fp32 master weights and trains with bf16 autocast): 16 bytes/param, i.e. 112 GB
for 7B, not the 84 GB of the seed table, which assumes bf16 weights and gradients. Set
``train.weights_dtype: bfloat16`` for the seed table's accounting; note that torch's AdamW
then keeps its moments in bf16 (4 B/param), so for that case the 8 B/param used here is an
upper bound. 8-bit optimizers need 2 B/param of states.

Activations per token and layer (sdpa attention, no dropout in the base; ``a`` = compute
dtype bytes, ``h`` hidden, ``q``/``kv`` projection widths, ``i`` MLP width)::

    no checkpointing:  8h (two fp32 RMSNorm inputs) + a(2h + 2q + 2kv + 4i) (+ LoRA dropout copies)
    checkpointing:     a*h per layer (the layer input) + one layer's full activations (recompute)
    LM head:           (a + 8) * vocab per token (logits + fp32 upcast/log-softmax in the loss)

DPO doubles the sequences (chosen + rejected) and, for full fine-tuning, adds a reference
model; reward models have no LM head; GRPO adds the generation KV cache, the reward model
(bf16) and, when ``beta > 0`` with full fine-tuning, a reference model. The fit check adds
``planner.cuda_overhead_mib`` (CUDA context, cuBLAS workspace, allocator slack) and keeps
``planner.margin`` of the device free. Single device, no ZeRO/FSDP sharding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from include.training.model_shape import ModelShape

GB = 1e9
MIB = 1024**2
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
#: bytes of optimizer state per trainable parameter
OPTIMIZER_STATE_BYTES = {
    "adamw_torch": 8,
    "adamw_torch_fused": 8,
    "paged_adamw_32bit": 8,
    "adamw_bnb_8bit": 2,
    "adamw_8bit": 2,
    "paged_adamw_8bit": 2,
    "adafactor": 0.5,  # factored second moment, no first moment (HF default): well under 1 B/param
    "sgd": 0,  # transformers' sgd has no momentum by default
}
NF4_BYTES = 0.5
QUANT_CONSTANT_BYTES = {True: 1 / 64 + 4 / (64 * 256), False: 4 / 64}  # double quant / plain (blocksize 64)
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class PlanError(RuntimeError):
    """No GPU in the catalog fits; the message has the numbers."""


@dataclass
class PlanInputs:
    method: str = "sft"  # sft | reward | dpo | grpo
    peft: str = "lora"  # none | lora | qlora
    weights_dtype: str = "bfloat16"  # non-quantized weights: float32 | bfloat16 | float16
    compute_dtype: str = "bfloat16"
    lora_r: int = 8
    lora_targets: tuple[str, ...] | str = ("q_proj", "k_proj", "v_proj", "o_proj")
    lora_dropout: float = 0.05
    double_quant: bool = True
    batch_size: int = 1
    seq_len: int = 2048
    gradient_checkpointing: bool = True
    optimizer: str = "adamw_torch"
    grpo_num_generations: int = 4
    grpo_max_completion_length: int = 128
    grpo_beta: float = 0.0


@dataclass
class MemoryEstimate:
    """Bytes per component; ``total`` is the sum (what max_memory_allocated should approach)."""

    components: dict[str, float]
    params: dict[str, int]
    trainable_params: int
    tokens_per_step: int
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(sum(self.components.values()))

    def gb(self) -> dict[str, float]:
        return {k: round(v / GB, 3) for k, v in self.components.items()} | {
            "total": round(self.total / GB, 3)
        }


def lora_trainable(shape: ModelShape, r: int, targets) -> tuple[int, list[tuple[int, int, int]]]:
    """Adapter parameters r*(in+out) per targeted linear, and the targeted (in, out, copies)."""
    shapes = shape.linear_shapes()
    names = list(shapes) if targets == "all-linear" else list(targets)
    unknown = [n for n in names if n not in shapes and n in LINEAR_NAMES]
    sized = [shapes[n] for n in names if n in shapes]
    if not sized:
        raise PlanError(
            f"cannot size LoRA targets {names} for model_type={shape.model_type}: known modules "
            f"{', '.join(shapes)}"
        )
    if unknown:
        raise PlanError(f"LoRA targets {unknown} do not exist in model_type={shape.model_type}")
    total = sum(r * (a + b) * n for a, b, n in sized) * shape.num_layers
    return total, sized


def static_bytes(
    total: int,
    linear: int,
    trainable: int,
    *,
    peft: str,
    weights_dtype: str = "bfloat16",
    optimizer: str = "adamw_torch",
    double_quant: bool = True,
) -> dict[str, float]:
    """Weights, adapter, gradients and optimizer states (bytes) from parameter counts."""
    if optimizer not in OPTIMIZER_STATE_BYTES:
        raise PlanError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZER_STATE_BYTES)}")
    wb = DTYPE_BYTES[weights_dtype]
    out: dict[str, float] = {}
    if peft == "qlora":
        out["weights"] = linear * (NF4_BYTES + QUANT_CONSTANT_BYTES[double_quant]) + (total - linear) * 2
        adapter_b = 2  # trl casts QLoRA adapters to bf16
    else:
        out["weights"] = total * wb
        adapter_b = 4  # peft keeps LoRA weights in fp32
    if peft == "none":
        out["gradients"] = trainable * wb
    else:
        out["adapter"] = trainable * adapter_b
        out["gradients"] = trainable * adapter_b
    out["optimizer"] = trainable * OPTIMIZER_STATE_BYTES[optimizer]
    return out


def activation_bytes(
    shape: ModelShape,
    inp: PlanInputs,
    sequences: int,
    seq_len: int,
    lm_head: bool = True,
    targeted: list[tuple[int, int, int]] | None = None,
) -> dict[str, float]:
    a = DTYPE_BYTES[inp.compute_dtype]
    h, q, kv, i = shape.hidden_size, shape.q_dim, shape.kv_dim, shape.intermediate_size
    i_active = i * max(1, shape.experts_per_token)
    tokens = sequences * seq_len
    per_layer = 8 * h + a * (2 * h + 2 * q + 2 * kv + 4 * i_active)
    if targeted and inp.lora_dropout > 0:
        per_layer += sum((a + 1) * fin + a * inp.lora_r for fin, _, _ in targeted)
    if inp.gradient_checkpointing:
        layers = tokens * (a * h * shape.num_layers + per_layer)
    else:
        layers = tokens * per_layer * shape.num_layers
    out = {"activations": float(layers)}
    if lm_head:
        out["logits"] = float(tokens * (a + 8) * shape.vocab_size)
    return out


def estimate(shape: ModelShape, inp: PlanInputs, total_params: int | None = None) -> MemoryEstimate:
    """Peak training memory for ``shape`` trained per ``inp`` (single device)."""
    counts = shape.param_counts()
    notes: list[str] = []
    total = counts["total"]
    if total_params and abs(total_params - total) > 0.01 * total:
        notes.append(
            f"analytic parameter count {total:,} differs from the exact count {total_params:,}; "
            "using the exact count (difference attributed to non-linear parameters)"
        )
        total = total_params
    linear = counts["linear"]
    targeted = None
    if inp.peft == "none":
        trainable = total
    else:
        trainable, targeted = lora_trainable(shape, inp.lora_r, inp.lora_targets)
    weights_dtype = inp.weights_dtype if inp.peft != "qlora" else "bfloat16"
    comp = static_bytes(
        total,
        linear,
        trainable,
        peft=inp.peft,
        weights_dtype=weights_dtype,
        optimizer=inp.optimizer,
        double_quant=inp.double_quant,
    )

    seqs, seq_len, lm_head = inp.batch_size, inp.seq_len, True
    if inp.method in ("dpo", "reward"):
        seqs = 2 * inp.batch_size  # chosen + rejected
        lm_head = inp.method == "dpo"
    if inp.method == "grpo":
        seq_len = inp.seq_len + inp.grpo_max_completion_length
    comp.update(activation_bytes(shape, inp, seqs, seq_len, lm_head, targeted))

    a = DTYPE_BYTES[inp.compute_dtype]
    base_half = total * 2
    if inp.method == "dpo" and inp.peft == "none":
        comp["reference_model"] = total * DTYPE_BYTES[inp.weights_dtype]
        notes.append("DPO with full fine-tuning keeps a separate reference model")
    if inp.method == "grpo":
        gen_seqs = max(inp.batch_size, inp.grpo_num_generations)
        comp["kv_cache"] = float(gen_seqs * seq_len * shape.num_layers * 2 * shape.kv_dim * a)
        comp["reward_model"] = float(base_half)
        notes.append("GRPO: reward model assumed the size of the base model, in bf16")
        if inp.grpo_beta > 0 and inp.peft == "none":
            comp["reference_model"] = float(total * DTYPE_BYTES[inp.weights_dtype])
    return MemoryEstimate(comp, {**counts, "total_used": total}, trainable, seqs * seq_len, notes)


def bytes_per_param(peft: str, weights_dtype: str, optimizer: str = "adamw_torch") -> float:
    """Static bytes per *base* parameter for full fine-tuning (peft=none) — the anatomy-doc figure."""
    if peft != "none":
        raise ValueError("bytes/param is a full fine-tuning figure")
    s = static_bytes(
        1_000_000, 1_000_000, 1_000_000, peft="none", weights_dtype=weights_dtype, optimizer=optimizer
    )
    return math.fsum(s.values()) / 1_000_000
