"""metrics.json of a training run: losses per epoch, eval perplexity, base-model eval loss, tokens, memory, time."""

from __future__ import annotations

import math
import resource
import sys
from typing import Any


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    try:
        return math.exp(min(loss, 700.0))
    except OverflowError:  # pragma: no cover
        return None


def per_epoch(log_history: list[dict]) -> list[dict]:
    """Train loss (mean of logged steps) and last eval loss for each epoch of ``log_history``."""
    epochs: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        idx = max(1, math.ceil(float(entry["epoch"]) - 1e-9))
        e = epochs.setdefault(idx, {"epoch": idx, "train_losses": [], "eval_loss": None, "steps": []})
        if "loss" in entry and _finite(entry["loss"]) is not None:
            e["train_losses"].append(float(entry["loss"]))
            if "step" in entry:
                e["steps"].append(entry["step"])
        if "eval_loss" in entry and _finite(entry["eval_loss"]) is not None:
            e["eval_loss"] = float(entry["eval_loss"])
    out = []
    for idx in sorted(epochs):
        e = epochs[idx]
        losses = e.pop("train_losses")
        e["train_loss"] = sum(losses) / len(losses) if losses else None
        e["logged_steps"] = len(losses)
        e.pop("steps")
        out.append(e)
    return out


def peak_memory() -> dict:
    """Peak accelerator memory (``torch.cuda.max_memory_allocated``) or, on CPU, the process peak RSS."""
    try:
        import torch

        if torch.cuda.is_available():
            return {
                "peak_memory_bytes": int(torch.cuda.max_memory_allocated()),
                "peak_memory_source": "torch.cuda.max_memory_allocated",
                "device": torch.cuda.get_device_name(0),
            }
    except ImportError:  # pragma: no cover
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = rss if sys.platform == "darwin" else rss * 1024
    return {
        "peak_memory_bytes": int(rss_bytes),
        "peak_memory_source": "ru_maxrss (CPU process peak RSS)",
        "device": "cpu",
    }


def method_metrics(
    method: str, base_eval: dict | None, final_eval: dict | None, log_history: list[dict]
) -> dict:
    base_eval, final_eval = base_eval or {}, final_eval or {}
    out: dict[str, Any] = {
        "eval_loss": _finite(final_eval.get("eval_loss")),
        "base_eval_loss": _finite(base_eval.get("eval_loss")),
    }
    if method == "sft":
        out["eval_perplexity"] = perplexity(out["eval_loss"])
        out["base_eval_perplexity"] = perplexity(out["base_eval_loss"])
    else:
        out["eval_perplexity"] = None  # not a language-modelling loss for reward/dpo/grpo
    if method == "reward":
        out["eval_accuracy"] = _finite(final_eval.get("eval_accuracy"))
        out["base_eval_accuracy"] = _finite(base_eval.get("eval_accuracy"))
    if method == "dpo":
        out["eval_rewards_accuracies"] = _finite(final_eval.get("eval_rewards/accuracies"))
        out["eval_rewards_margins"] = _finite(final_eval.get("eval_rewards/margins"))
    if method == "grpo":
        rewards = [
            float(e["reward"]) for e in log_history if "reward" in e and _finite(e["reward"]) is not None
        ]
        out["reward_first_step"] = rewards[0] if rewards else None
        out["reward_last_step"] = rewards[-1] if rewards else None
        out["reward_mean"] = sum(rewards) / len(rewards) if rewards else None
    return out
