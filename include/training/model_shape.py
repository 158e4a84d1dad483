"""What the memory planner reads from a model: its architecture's shapes, from the config only.

:class:`ModelShape` takes a transformers config (or its dict) of a decoder-only transformer
(Llama, Mistral, Qwen, Gemma, Phi-3, GPT-style, MoE) and counts parameters per part;
:func:`meta_parameter_count` cross-checks the count on the meta device (no memory, no weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: model types whose MLP has no gate projection (up/down only)
NON_GATED_MLP = {"gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi", "starcoder2", "gpt_bigcode"}


@dataclass(frozen=True)
class ModelShape:
    """What the planner needs from a decoder-only transformer config."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_embeddings: bool = False
    gated_mlp: bool = True
    num_experts: int = 1
    experts_per_token: int = 1
    attention_bias: bool = False

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a transformers config object or its dict (Llama, Mistral, Qwen, Gemma, Phi-3, GPT-style...)."""
        c = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        if "text_config" in c and isinstance(c["text_config"], dict):  # multimodal wrappers
            c = {**c, **c["text_config"]}

        def get(*names, default=None):
            for n in names:
                if c.get(n) is not None:
                    return c[n]
            return default

        hidden = int(get("hidden_size", "n_embd", "d_model"))
        heads = int(get("num_attention_heads", "n_head", "num_heads"))
        model_type = str(get("model_type", default="unknown"))
        inter = int(get("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden) or 4 * hidden)
        return cls(
            model_type=model_type,
            vocab_size=int(get("vocab_size")),
            hidden_size=hidden,
            intermediate_size=inter,
            num_layers=int(get("num_hidden_layers", "n_layer", "num_layers")),
            num_heads=heads,
            num_kv_heads=int(get("num_key_value_heads", "num_kv_heads", default=heads) or heads),
            head_dim=int(get("head_dim", default=hidden // heads) or hidden // heads),
            tie_embeddings=bool(get("tie_word_embeddings", default=False)),
            gated_mlp=model_type not in NON_GATED_MLP,
            num_experts=int(get("num_local_experts", "num_experts", default=1) or 1),
            experts_per_token=int(get("num_experts_per_tok", default=1) or 1),
            attention_bias=bool(get("attention_bias", default=False)),
        )

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int, int]]:
        """Per layer: module name -> (in_features, out_features, copies) (copies = experts for MLPs)."""
        h, i, e = self.hidden_size, self.intermediate_size, self.num_experts
        shapes = {
            "q_proj": (h, self.q_dim, 1),
            "k_proj": (h, self.kv_dim, 1),
            "v_proj": (h, self.kv_dim, 1),
            "o_proj": (self.q_dim, h, 1),
            "up_proj": (h, i, e),
            "down_proj": (i, h, e),
        }
        if self.gated_mlp:
            shapes["gate_proj"] = (h, i, e)
        return shapes

    def param_counts(self) -> dict[str, int]:
        """Parameters by part: embedding, linear layers (what 4-bit quantizes), other, LM head."""
        h = self.hidden_size
        linear = sum(a * b * n for a, b, n in self.linear_shapes().values()) * self.num_layers
        bias = (self.q_dim + 2 * self.kv_dim) * self.num_layers if self.attention_bias else 0
        router = h * self.num_experts * self.num_layers if self.num_experts > 1 else 0
        norms = 2 * h * self.num_layers + h
        embed = self.vocab_size * h
        head = 0 if self.tie_embeddings else self.vocab_size * h
        counts = {"embedding": embed, "linear": linear, "other": norms + bias + router, "lm_head": head}
        counts["total"] = sum(counts.values())
        return counts


def meta_parameter_count(config: Any) -> int | None:
    """Exact parameter count by instantiating the architecture on the meta device (no memory, no weights)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        return sum(p.numel() for p in model.parameters())
    except Exception:  # noqa: BLE001 - unknown architectures: the analytic count stands
        return None


def load_model_config(base_model: str, revision: str | None = None):
    """The model's config (``config.json``) from a local folder or the HF cache; no weights."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base_model, revision=revision)
