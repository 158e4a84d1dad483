"""The training methods: model loading, PEFT, quantization and one trl trainer per method.

=========  ==================================  ===========================================================
method     trainer (trl 1.16)                  notes
=========  ==================================  ===========================================================
``sft``    ``SFTTrainer``                      full fine-tuning, LoRA or QLoRA; labels pre-masked so only
                                               assistant tokens are trained (see ``dataset.tokenize_sft``)
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

PEFT: ``none`` (full fine-tuning, fp32 master weights + bf16/fp16 autocast on GPU by
default), ``lora`` (frozen base in the compute dtype + LoRA adapters), ``qlora`` (base
linear layers in 4-bit NF4 with double quantization via bitsandbytes, bf16 compute where
supported, ``prepare_model_for_kbit_training``, LoRA adapters). bitsandbytes >= 0.49 also
has a CPU backend for 4-bit (quantize/dequantize and the NF4 GEMV), so QLoRA runs on CPU
as well (slowly); without CUDA and without a working CPU backend it fails before loading
with "QLoRA needs a CUDA GPU".

Everything heavy is imported inside functions.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from include.config.training import TrainingConfig
from include.training import dataset as ds

log = logging.getLogger(__name__)


class QLoRAUnsupported(RuntimeError):
    """4-bit loading cannot work on this machine (no CUDA GPU and no bitsandbytes CPU backend)."""


# ------------------------------------------------------------------ devices and dtypes


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def cpu_has_native_bf16() -> bool:
    try:
        from bitsandbytes.functional import has_avx512bf16

        return bool(has_avx512bf16())
    except Exception:  # noqa: BLE001
        return False


def compute_dtype_name(precision: str) -> str:
    """``bfloat16`` / ``float16`` / ``float32`` for the ``train.precision`` setting."""
    if precision == "bf16":
        return "bfloat16"
    if precision == "fp16":
        return "float16"
    if precision == "fp32":
        return "float32"
    if has_cuda():
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def weights_dtype_name(cfg: TrainingConfig) -> str:
    """dtype the (non-quantized) base weights are loaded in."""
    if cfg.train.weights_dtype != "auto":
        return cfg.train.weights_dtype
    if cfg.peft == "none":
        return "float32"  # fp32 master weights, bf16/fp16 autocast: standard mixed precision
    return compute_dtype_name(cfg.train.precision)


def qlora_compute_dtype_name(cfg: TrainingConfig) -> str:
    setting = cfg.quantization.compute_dtype
    if setting != "auto":
        return setting
    if has_cuda():
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def check_qlora_supported() -> str:
    """``"cuda"`` or ``"cpu"`` where 4-bit works; raises :class:`QLoRAUnsupported` otherwise.

    Probed by quantizing and dequantizing a small tensor with bitsandbytes, before any model
    is loaded.
    """
    if has_cuda():
        return "cuda"
    try:
        import torch
        from bitsandbytes.functional import dequantize_4bit, quantize_4bit

        x = torch.linspace(-1, 1, 128, dtype=torch.float32).reshape(2, 64)
        q, state = quantize_4bit(x, quant_type="nf4", compress_statistics=True)
        y = dequantize_4bit(q, state)
        if not torch.allclose(x, y, atol=0.2):
            raise RuntimeError("4-bit round trip is wrong")
    except Exception as exc:  # noqa: BLE001
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as pkg_version

        try:
            version = pkg_version("bitsandbytes")
        except PackageNotFoundError:
            version = "not installed"
        raise QLoRAUnsupported(
            f"QLoRA needs a CUDA GPU: no CUDA device here and bitsandbytes ({version}) has no working 4-bit CPU "
            f"backend ({type(exc).__name__}: {exc}). Use peft=lora, or run on a GPU backend."
        ) from None
    return "cpu"


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


def default_learning_rate(method: str, peft: str) -> float:
    """Learning rates when ``train.learning_rate`` is null (common practice per method)."""
    adapter = peft != "none"
    return {
        "sft": 2e-4 if adapter else 2e-5,
        "reward": 1e-4 if adapter else 1e-5,
        "dpo": 5e-5 if adapter else 5e-6,
        "grpo": 1e-5 if adapter else 1e-6,
    }[method]


# ------------------------------------------------------------------ models


def _local_model_path(uri: str, workdir: Path) -> str:
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

    path = Path(_local_model_path(uri, workdir))
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


class RewardModelScorer:
    """A trained reward model as a GRPO/RLOO reward function: ``(prompts, completions) -> [float]``.

    Prompt and completion (conversational) are rendered with the reward model's tokenizer
    chat template, truncated from the left to ``max_length`` (the end of the answer is
    what the score head reads) and scored in batches.
    """

    __name__ = "reward_model"

    def __init__(self, model, tokenizer, max_length: int = 1024, batch_size: int = 8):
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size

    def _text(self, prompt, completion) -> str:
        if isinstance(prompt, list):
            msgs = list(prompt) + (
                completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
            )
            return self.tokenizer.apply_chat_template(msgs, tokenize=False)
        return f"{prompt}{completion}"

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        import torch

        texts = [self._text(p, c) for p, c in zip(prompts, completions, strict=True)]
        scores: list[float] = []
        device = next(self.model.parameters()).device
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            enc = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=False,
            )
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.inference_mode():
                logits = self.model(**enc).logits[:, 0]
            scores.extend(float(x) for x in logits.float().cpu())
        return scores


# ------------------------------------------------------------------ trainer arguments


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


def build_trainer(cfg: TrainingConfig, ts: ds.TrainingSet, output_dir: str, workdir: Path, callbacks=()):
    """The configured trl trainer for ``cfg.method`` and facts for metrics.json."""
    tokenizer = load_tokenizer(cfg)
    template, template_source = ds.resolve_chat_template(
        tokenizer, cfg.data.chat_template, cfg.data.assistant_only_loss and cfg.method == "sft"
    )
    tokenizer.chat_template = template
    facts: dict[str, Any] = {
        "chat_template_source": template_source,
        "chat_template_hash": ds.template_hash(template),
    }
    has_eval = bool(ts.eval)
    peft_cfg = None
    kwargs = common_args(cfg, output_dir, has_eval)

    if cfg.method == "sft":
        from trl import SFTConfig, SFTTrainer

        train_ds, stats = ds.tokenized_sft_dataset(
            ts.train, tokenizer, template, cfg.data.max_length, cfg.data.assistant_only_loss
        )
        eval_ds = None
        if has_eval:
            eval_ds, eval_stats = ds.tokenized_sft_dataset(
                ts.eval, tokenizer, template, cfg.data.max_length, cfg.data.assistant_only_loss
            )
            facts["eval_tokens"] = eval_stats
        facts["train_tokens"] = stats
        model = load_model(cfg)
        if cfg.peft != "none":
            peft_cfg = lora_config(cfg)
        args = SFTConfig(
            **kwargs,
            max_length=cfg.data.max_length,
            assistant_only_loss=False,
            packing=False,
            completion_only_loss=False,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_cfg,
            callbacks=list(callbacks),
        )
        return trainer, tokenizer, facts

    if cfg.method == "reward":
        from trl import RewardConfig, RewardTrainer

        ts_fit = _fit_prompts(ts, tokenizer, template, cfg.data.max_prompt_length, facts)
        train_ds, stats = ds.tokenized_reward_dataset(ts_fit.train, tokenizer, template, cfg.data.max_length)
        eval_ds = (
            ds.tokenized_reward_dataset(ts_fit.eval, tokenizer, template, cfg.data.max_length)[0]
            if ts_fit.eval
            else None
        )
        facts["train_pairs"] = stats
        model = load_model(cfg, sequence_classification=True)
        model.config.pad_token_id = tokenizer.pad_token_id
        if cfg.peft != "none":
            peft_cfg = lora_config(cfg, task_type="SEQ_CLS")
        args = RewardConfig(
            **kwargs,
            max_length=cfg.data.max_length,
            center_rewards_coefficient=cfg.reward.center_rewards_coefficient,
        )
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_cfg,
            callbacks=list(callbacks),
        )
        return trainer, tokenizer, facts

    from datasets import Dataset

    if cfg.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        ts_fit = _fit_prompts(ts, tokenizer, template, cfg.data.max_prompt_length, facts)
        train_ds = Dataset.from_list([ds.for_trl(e) for e in ts_fit.train])
        eval_ds = Dataset.from_list([ds.for_trl(e) for e in ts_fit.eval]) if ts_fit.eval else None
        model = load_model(cfg)
        ref_model = None
        if cfg.peft != "none":
            peft_cfg = lora_config(cfg)
            facts["reference"] = "base model with the adapter disabled"
        else:
            ref_path = cfg.dpo.reference_model or cfg.base_model
            ref_model = load_model(cfg, path=_local_model_path(ref_path, workdir))
            ref_model.eval()
            facts["reference"] = f"explicit reference model: {ref_path}"
        args = DPOConfig(
            **kwargs,
            max_length=cfg.data.max_length,
            beta=cfg.dpo.beta,
            loss_type=[cfg.dpo.loss_type],
            label_smoothing=cfg.dpo.label_smoothing,
        )
        trainer = DPOTrainer(
            model=model,
            ref_model=ref_model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_cfg,
            callbacks=list(callbacks),
        )
        return trainer, tokenizer, facts

    # grpo / rloo
    g = cfg.grpo
    kept, dropped = [], 0
    for e in ts.train:
        prompt, fits = ds.fit_prompt(
            e["prompt"], tokenizer, template, cfg.data.max_prompt_length, e.get("tools")
        )
        if fits:
            kept.append({**e, "prompt": prompt})
        else:
            dropped += 1
    if not kept:
        raise ds.DatasetError(f"no RL prompt fits data.max_prompt_length={cfg.data.max_prompt_length} tokens")
    facts["prompts"] = {"train": len(kept), "dropped_too_long": dropped}
    train_ds = Dataset.from_list([{"prompt": ds.for_trl(e)["prompt"]} for e in kept])
    reward_model, reward_tok = load_reward_model(g.reward_model, workdir)
    scorer = RewardModelScorer(reward_model, reward_tok, cfg.data.max_length, g.reward_batch_size)
    facts["reward_function"] = f"reward model {g.reward_model} (RewardModelScorer)"
    model = load_model(cfg)
    if cfg.peft != "none":
        peft_cfg = lora_config(cfg)
    batch = cfg.train.per_device_train_batch_size
    gen_batch = math.lcm(batch, g.num_generations)
    rl_kwargs = dict(
        kwargs,
        eval_strategy="no",
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        beta=g.beta,
        generation_batch_size=gen_batch,
    )
    if g.algorithm == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        args, cls = RLOOConfig(**rl_kwargs), RLOOTrainer
    else:
        from trl import GRPOConfig, GRPOTrainer

        args, cls = GRPOConfig(**rl_kwargs), GRPOTrainer
    trainer = cls(
        model=model,
        reward_funcs=[scorer],
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=peft_cfg,
        callbacks=list(callbacks),
    )
    return trainer, tokenizer, facts


def _fit_prompts(ts: ds.TrainingSet, tokenizer, template: str, budget: int, facts: dict) -> ds.TrainingSet:
    trimmed = 0

    def fit(examples):
        nonlocal trimmed
        out = []
        for e in examples:
            prompt, _ = ds.fit_prompt(e["prompt"], tokenizer, template, budget, e.get("tools"))
            trimmed += len(prompt) != len(e["prompt"])
            out.append({**e, "prompt": prompt})
        return out

    fitted = ds.TrainingSet(fit(ts.train), fit(ts.eval), ts.info)
    facts["prompts_trimmed_to_fit"] = trimmed
    return fitted
