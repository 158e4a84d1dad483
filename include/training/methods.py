"""The training methods: model loading, PEFT, quantization and one trl trainer per method.

=========  ==================================  ===========================================================
method     trainer (trl 1.16)                  notes
=========  ==================================  ===========================================================
``sft``    ``SFTTrainer``                      full fine-tuning, LoRA or QLoRA; labels pre-masked so only
                                               assistant tokens are trained (see ``tokenization.tokenize_sft``)
``reward`` ``RewardTrainer``                   ``AutoModelForSequenceClassification`` (1 label) on pairs
``dpo``    ``DPOTrainer``                      beta / loss type from config. With an adapter the reference is
                                               the base model with the adapter disabled (trl's PEFT path, no
                                               second copy); with full fine-tuning an explicit reference model
                                               (``dpo.reference_model`` or a second copy of the base) is loaded
``grpo``   ``GRPOTrainer`` (or ``RLOOTrainer``) RLHF. trl 1.16 has no ``PPOTrainer`` (removed from trl's
                                               stable API), so "RL from a reward model" is GRPO (or RLOO):
                                               the reward model trained by ``method=reward`` is wrapped as
                                               the reward function (:class:`RewardModelScorer`)
=========  ==================================  ===========================================================

Each method has one builder in :data:`BUILDERS` (its data, model and trl config);
:func:`build_trainer` adds what every method shares (tokenizer and chat template, the
arguments of :func:`common_args`, the LoRA config, callbacks).

PEFT: ``none`` (full fine-tuning, fp32 master weights + bf16/fp16 autocast on GPU by
default), ``lora`` (frozen base in the compute dtype + LoRA adapters), ``qlora`` (base
linear layers in 4-bit NF4 with double quantization via bitsandbytes, bf16 compute where
supported, ``prepare_model_for_kbit_training``, LoRA adapters); loading is
:mod:`include.training.models`, devices and dtypes :mod:`include.training.devices`.

Everything heavy is imported inside functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.config.training import TrainingConfig
from include.training import dataset as ds
from include.training import tokenization as tk
from include.training.devices import compute_dtype_name, has_cuda
from include.training.models import (
    load_model,
    load_reward_model,
    load_tokenizer,
    local_model_path,
    lora_config,
)
from include.training.reward_scorer import RewardModelScorer

log = logging.getLogger(__name__)


def default_learning_rate(method: str, peft: str) -> float:
    """Learning rates when ``train.learning_rate`` is null (common practice per method)."""
    adapter = peft != "none"
    return {
        "sft": 2e-4 if adapter else 2e-5,
        "reward": 1e-4 if adapter else 1e-5,
        "dpo": 5e-5 if adapter else 5e-6,
        "grpo": 1e-5 if adapter else 1e-6,
    }[method]


def common_args(cfg: TrainingConfig, output_dir: str, has_eval: bool) -> dict:
    t = cfg.train
    compute = compute_dtype_name(t.precision)
    cuda = has_cuda()
    args = {
        "output_dir": output_dir,
        "num_train_epochs": t.num_train_epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "per_device_eval_batch_size": t.per_device_eval_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "learning_rate": t.learning_rate or default_learning_rate(cfg.method, cfg.peft),
        "lr_scheduler_type": t.lr_scheduler_type,
        "warmup_steps": t.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of total steps
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "optim": t.optim,
        "gradient_checkpointing": t.gradient_checkpointing,
        "bf16": cuda and compute == "bfloat16",
        "fp16": cuda and compute == "float16",
        "use_cpu": not cuda,
        "seed": t.seed,
        "logging_steps": t.logging_steps,
        "logging_first_step": True,
        "eval_strategy": t.eval_strategy if has_eval else "no",
        "save_strategy": "no",
        "report_to": "none",
        "dataloader_num_workers": t.dataloader_num_workers,
        "disable_tqdm": True,
    }
    if cfg.peft != "none" and t.gradient_checkpointing:
        args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if (
        t.checkpoint_dir
    ):  # resumable: the trainer writes checkpoint-<step>/ there (train.py resumes from the newest)
        args.update(
            output_dir=t.checkpoint_dir,
            save_strategy="steps",
            save_steps=t.save_steps,
            save_total_limit=t.save_total_limit,
        )
    return args


# ------------------------------------------------------------------ one builder per method


@dataclass
class Context:
    """What every builder gets: the config, the training set, the tokenizer with its chat template,
    the :func:`common_args`, the scratch folder, and ``facts`` to fill for metrics.json."""

    cfg: TrainingConfig
    ts: ds.TrainingSet
    tokenizer: Any
    template: str
    args: dict
    workdir: Path
    facts: dict


@dataclass
class Built:
    """One method's trainer class and what it is constructed with (besides the shared arguments)."""

    trainer: type
    model: Any
    args: Any
    train_dataset: Any
    kwargs: dict = field(default_factory=dict)  # eval_dataset, ref_model, reward_funcs
    lora_task_type: str = "CAUSAL_LM"


def sft_config(args: dict, max_length: int, packed: bool = False):
    """trl's ``SFTConfig``: the examples come tokenized with their labels already masked
    (:func:`~include.training.tokenization.tokenize_sft`), so trl neither masks nor packs; a set
    packed by :mod:`include.training.tokenized_set` trains padding-free (position ids restart at
    each example's ``seq_lengths`` boundary)."""
    from trl import SFTConfig

    return SFTConfig(
        **args,
        max_length=None if packed else max_length,  # packed sequences are within max_length already
        assistant_only_loss=False,
        packing=False,
        padding_free=packed,
        completion_only_loss=False,
    )


def build_sft(c: Context) -> Built:
    from trl import SFTTrainer

    from include.training import tokenized_set

    d = c.cfg.data
    cached = tokenized_set.load_datasets(c.ts, c.tokenizer, c.template, d)
    if cached:
        train_ds, eval_ds, stats = cached
        c.facts["train_tokens"], c.facts["eval_tokens"] = stats.get("train"), stats.get("eval")
        c.facts["tokenized_set"] = c.ts.info["tokenized"]["key"]
        packed = d.packing != "none"
        return Built(
            SFTTrainer,
            load_model(c.cfg),
            sft_config(c.args, d.max_length, packed),
            train_ds,
            {"eval_dataset": eval_ds},
        )
    train_ds, c.facts["train_tokens"] = tk.tokenized_sft_dataset(
        c.ts.train, c.tokenizer, c.template, d.max_length, d.assistant_only_loss
    )
    eval_ds = None
    if c.ts.eval:
        eval_ds, c.facts["eval_tokens"] = tk.tokenized_sft_dataset(
            c.ts.eval, c.tokenizer, c.template, d.max_length, d.assistant_only_loss
        )
    return Built(
        SFTTrainer, load_model(c.cfg), sft_config(c.args, d.max_length), train_ds, {"eval_dataset": eval_ds}
    )


def build_reward(c: Context) -> Built:
    from trl import RewardConfig, RewardTrainer

    cfg = c.cfg
    fit = _fit_prompts(c.ts, c.tokenizer, c.template, cfg.data.max_prompt_length, c.facts)
    train_ds, c.facts["train_pairs"] = tk.tokenized_reward_dataset(
        fit.train, c.tokenizer, c.template, cfg.data.max_length
    )
    eval_ds = (
        tk.tokenized_reward_dataset(fit.eval, c.tokenizer, c.template, cfg.data.max_length)[0]
        if fit.eval
        else None
    )
    model = load_model(cfg, sequence_classification=True)
    model.config.pad_token_id = c.tokenizer.pad_token_id
    args = RewardConfig(
        **c.args,
        max_length=cfg.data.max_length,
        center_rewards_coefficient=cfg.reward.center_rewards_coefficient,
    )
    return Built(RewardTrainer, model, args, train_ds, {"eval_dataset": eval_ds}, lora_task_type="SEQ_CLS")


def build_dpo(c: Context) -> Built:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    cfg = c.cfg
    fit = _fit_prompts(c.ts, c.tokenizer, c.template, cfg.data.max_prompt_length, c.facts)
    train_ds = Dataset.from_list([tk.for_trl(e) for e in fit.train])
    eval_ds = Dataset.from_list([tk.for_trl(e) for e in fit.eval]) if fit.eval else None
    model = load_model(cfg)
    ref_model = None
    if cfg.peft != "none":
        c.facts["reference"] = "base model with the adapter disabled"
    else:
        ref_path = cfg.dpo.reference_model or cfg.base_model
        ref_model = load_model(cfg, path=local_model_path(ref_path, c.workdir))
        ref_model.eval()
        c.facts["reference"] = f"explicit reference model: {ref_path}"
    args = DPOConfig(
        **c.args,
        max_length=cfg.data.max_length,
        beta=cfg.dpo.beta,
        loss_type=[cfg.dpo.loss_type],
        label_smoothing=cfg.dpo.label_smoothing,
    )
    return Built(DPOTrainer, model, args, train_ds, {"ref_model": ref_model, "eval_dataset": eval_ds})


def build_grpo(c: Context) -> Built:
    """GRPO, or RLOO with ``grpo.algorithm: rloo``; the reward is :class:`RewardModelScorer`."""
    from datasets import Dataset

    cfg, g = c.cfg, c.cfg.grpo
    kept, dropped = [], 0
    for e in c.ts.train:
        prompt, fits = tk.fit_prompt(
            e["prompt"], c.tokenizer, c.template, cfg.data.max_prompt_length, e.get("tools")
        )
        if fits:
            kept.append({**e, "prompt": prompt})
        else:
            dropped += 1
    if not kept:
        raise ds.DatasetError(f"no RL prompt fits data.max_prompt_length={cfg.data.max_prompt_length} tokens")
    c.facts["prompts"] = {"train": len(kept), "dropped_too_long": dropped}
    train_ds = Dataset.from_list([{"prompt": tk.for_trl(e)["prompt"]} for e in kept])
    reward_model, reward_tok = load_reward_model(g.reward_model, c.workdir)
    scorer = RewardModelScorer(reward_model, reward_tok, cfg.data.max_length, g.reward_batch_size)
    c.facts["reward_function"] = f"reward model {g.reward_model} (RewardModelScorer)"
    model = load_model(cfg)
    rl_kwargs = dict(
        c.args,
        eval_strategy="no",
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        generation_batch_size=math.lcm(cfg.train.per_device_train_batch_size, g.num_generations),
    )
    if g.algorithm == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        args, cls = RLOOConfig(**rl_kwargs), RLOOTrainer
    else:
        from trl import GRPOConfig, GRPOTrainer

        args, cls = GRPOConfig(**rl_kwargs), GRPOTrainer
    return Built(cls, model, args, train_ds, {"reward_funcs": [scorer]})


#: ``method`` -> its builder (``include.config.training.METHODS``)
BUILDERS: dict[str, Callable[[Context], Built]] = {
    "sft": build_sft,
    "reward": build_reward,
    "dpo": build_dpo,
    "grpo": build_grpo,
}


def build_trainer(cfg: TrainingConfig, ts: ds.TrainingSet, output_dir: str, workdir: Path, callbacks=()):
    """The configured trl trainer for ``cfg.method``, its tokenizer, and facts for metrics.json."""
    tokenizer = load_tokenizer(cfg)
    template, template_source = tk.resolve_chat_template(
        tokenizer, cfg.data.chat_template, cfg.data.assistant_only_loss and cfg.method == "sft"
    )
    tokenizer.chat_template = template
    facts: dict[str, Any] = {
        "chat_template_source": template_source,
        "chat_template_hash": tk.template_hash(template),
    }
    args = common_args(cfg, output_dir, bool(ts.eval))
    built = BUILDERS[cfg.method](Context(cfg, ts, tokenizer, template, args, workdir, facts))
    trainer = built.trainer(
        model=built.model,
        args=built.args,
        train_dataset=built.train_dataset,
        processing_class=tokenizer,
        peft_config=lora_config(cfg, task_type=built.lora_task_type) if cfg.peft != "none" else None,
        callbacks=list(callbacks),
        **built.kwargs,
    )
    return trainer, tokenizer, facts


def _fit_prompts(ts: ds.TrainingSet, tokenizer, template: str, budget: int, facts: dict) -> ds.TrainingSet:
    trimmed = 0

    def fit(examples):
        nonlocal trimmed
        out = []
        for e in examples:
            prompt, _ = tk.fit_prompt(e["prompt"], tokenizer, template, budget, e.get("tools"))
            trimmed += len(prompt) != len(e["prompt"])
            out.append({**e, "prompt": prompt})
        return out

    fitted = ds.TrainingSet(fit(ts.train), fit(ts.eval), ts.info)
    facts["prompts_trimmed_to_fit"] = trimmed
    return fitted
