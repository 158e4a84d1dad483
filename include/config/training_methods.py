"""Method-specific sections of the training config: ``dpo``, ``reward``, ``grpo``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from include.config.base import _Strict


class DpoSettings(_Strict):
    """``method: dpo``: direct preference optimisation."""

    beta: float = Field(0.1, gt=0, description="strength of the KL anchor to the reference")
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
    ] = Field("sigmoid", description="trl DPO loss")
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=0.5, description="assumed share of flipped preference labels"
    )
    reference_model: str | None = Field(
        None, description="full fine-tuning only; null = a second copy of base_model"
    )


class RewardSettings(_Strict):
    """``method: reward``: a reward model on preference pairs."""

    center_rewards_coefficient: float | None = Field(
        None, description="e.g. 0.01 keeps rewards centred around 0; null: off"
    )


class GrpoSettings(_Strict):
    """RL from a reward model (trl 1.16 has no PPOTrainer: GRPO, or RLOO)."""

    algorithm: Literal["grpo", "rloo"] = Field("grpo", description="the RL trainer")
    reward_model: str | None = Field(
        None, description="folder or s3:// URI of a model trained with method=reward (required)"
    )
    num_generations: int = Field(4, ge=2, description="completions sampled per prompt (the group)")
    max_completion_length: int = Field(128, ge=1, description="tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    beta: float = Field(0.0, ge=0.0, description="KL coefficient; 0 = no reference model (trl default)")
    reward_batch_size: int = Field(8, ge=1, description="completions the reward model scores at once")
