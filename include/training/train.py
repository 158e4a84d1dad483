"""The training entry point every backend runs.

    python -m include.training.train --config FILE [--dataset-uri URI] [--output-uri URI]
    python -m include.training.train train      # inside a SageMaker training job (/opt/ml layout)

``FILE`` (JSON or YAML, local or s3://) is a training config (see
``include/config/training_default.yaml``; missing keys take the defaults). The dataset
is read from ``dataset_uri`` (a built training set, or canonical Parquet that is built
into one here), local or s3://. Written to ``output_uri`` (local or s3://):

* the adapter (PEFT) or the full model, and the tokenizer with the chat template used;
* ``metrics.json``: train/eval loss per epoch, eval loss and perplexity, the base model's
  eval loss on the same split, tokens (and % of tokens trained), peak memory, wall time;
* ``training_config.json``: the validated config.

With ``train.checkpoint_dir`` the trainer saves ``checkpoint-<step>/`` there every
``train.save_steps`` and a run that finds checkpoints resumes from the newest (spot capacity
reclaimed, pod evicted). With ``gate.production_adapter_uri`` the adapter currently aliased
``production`` is evaluated on the same held-out split (``production_eval_loss``).

Progress lines (``step 3/20 loss=...``) go to stdout as training runs, so a backend that
streams the process output shows live progress.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from include import storage
from include.config import ConfigError, parse_overrides
from include.config.training import TrainingConfig, load_training_config
from include.training.provenance import code_version, library_versions

log = logging.getLogger("include.training")

#: exit codes of the entry point: a bad config (fix it, do not retry), any other failure
EXIT_CONFIG_ERROR, EXIT_FAILED = 2, 1
MODEL_FILES_HINT = ("adapter_config.json", "adapter_model.safetensors", "model.safetensors", "config.json")


def _say(msg: str) -> None:
    print(msg, flush=True)


def progress_callback():
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """One line per logging step: ``step n/N epoch e loss=... lr=...``."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            keys = [
                k
                for k in (
                    "loss",
                    "eval_loss",
                    "learning_rate",
                    "reward",
                    "rewards/accuracies",
                    "accuracy",
                    "grad_norm",
                    "num_tokens",
                    "train_loss",
                    "train_runtime",
                )
                if k in logs
            ]
            parts = " ".join(
                f"{k}={logs[k]:.4g}" if isinstance(logs[k], float) else f"{k}={logs[k]}" for k in keys
            )
            _say(f"step {state.global_step}/{state.max_steps} epoch {float(state.epoch or 0):.2f} {parts}")

    return Progress()


def _upload_dir(local: Path, uri: str) -> None:
    """Copy a folder to an object-store URI, streaming (model weights can be many GB)."""
    import shutil

    fs, base = storage.filesystem(uri)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            with (
                path.open("rb") as src,
                fs.open_output_stream(f"{base}/{path.relative_to(local).as_posix()}") as dst,
            ):
                shutil.copyfileobj(src, dst, 8 << 20)


def run(
    cfg: TrainingConfig, workdir: str | Path | None = None, tokenized_uri: str | None = None
) -> dict[str, Any]:
    """Train per ``cfg``; write model, tokenizer, metrics.json and training_config.json; return the metrics.

    ``tokenized_uri``: the tokenized set ``build_set`` made for this run (SFT): its Parquet is read
    instead of tokenizing (when its key matches this tokenizer, template and data settings)."""
    if not cfg.base_model or not cfg.dataset_uri or not cfg.output_uri:
        raise ConfigError("base_model, dataset_uri and output_uri are required")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="llmops-train-") as tmp:
        return _run(cfg, Path(workdir) if workdir else Path(tmp), started, tokenized_uri)


def _run(cfg: TrainingConfig, work: Path, started: float, tokenized_uri: str | None = None) -> dict[str, Any]:
    from include.training import dataset as ds
    from include.training import devices, methods
    from include.training.metrics import method_metrics, peak_memory, per_epoch

    local_out = (
        Path(storage.local_path(cfg.output_uri)) if storage.is_local(cfg.output_uri) else work / "output"
    )
    local_out.mkdir(parents=True, exist_ok=True)

    _say(f"method={cfg.method} peft={cfg.peft} base_model={cfg.base_model} dataset={cfg.dataset_uri}")
    ts = ds.prepare_training_set(cfg.dataset_uri, cfg.method, cfg.data)
    _say(
        f"training set: {len(ts.train)} train / {len(ts.eval)} eval examples "
        f"(dataset hash {str(ts.info.get('dataset_content_hash'))[:12]})"
    )
    if tokenized_uri:
        from include.training.tokenized_set import attach

        _say(f"tokenized set given: {attach(ts, tokenized_uri)['key']} at {tokenized_uri}")

    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer, tokenizer, facts = methods.build_trainer(
        cfg, ts, str(work / "trainer"), work, [progress_callback()]
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our Progress callback prints one line per log instead
    if "train_tokens" in facts:
        t = facts["train_tokens"]
        _say(f"tokens: {t['tokens_trained']}/{t['tokens_total']} trained ({t['pct_tokens_trained']}%)")

    has_eval = trainer.eval_dataset is not None and cfg.method != "grpo"
    base_eval = trainer.evaluate() if has_eval else None
    if base_eval:
        _say(f"base model eval_loss={base_eval.get('eval_loss')}")
    resume = latest_checkpoint(cfg.train.checkpoint_dir)
    if resume:
        _say(f"resuming from {resume}")
    t_train = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.time() - t_train
    final_eval = trainer.evaluate() if has_eval else None
    if final_eval:
        _say(f"trained model eval_loss={final_eval.get('eval_loss')}")
    production = production_comparison(cfg, trainer, work, has_eval)

    trainer.save_model(str(local_out))
    tokenizer.save_pretrained(str(local_out))
    (local_out / "training_args.bin").unlink(missing_ok=True)  # a pickle; training_config.json says it all
    history = list(trainer.state.log_history)
    metrics: dict[str, Any] = {
        "method": cfg.method,
        "peft": cfg.peft,
        "base_model": cfg.base_model,
        "train_loss": result.training_loss,
        "global_steps": trainer.state.global_step,
        "epochs": per_epoch(history),
        **method_metrics(cfg.method, base_eval, final_eval, history),
        **production,
        "resumed_from_checkpoint": Path(resume).name if resume else None,
        "train_examples": len(ts.train),
        "eval_examples": len(ts.eval),
        "tokens_seen": int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0)
        or max((int(e.get("num_tokens", 0)) for e in history), default=0),
        "train_seconds": round(train_seconds, 3),
        "wall_seconds": round(time.time() - started, 3),
        **peak_memory(),
        "resolved": {
            "learning_rate": trainer.args.learning_rate,
            "compute_dtype": devices.compute_dtype_name(cfg.train.precision),
            "weights_dtype": "4bit-" + cfg.quantization.quant_type
            if cfg.peft == "qlora"
            else devices.weights_dtype_name(cfg),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            **facts,
        },
        "trainset": ts.info,
        "libraries": library_versions(),
        "code_version": code_version(),
    }
    if "train_tokens" in facts:
        metrics["tokens_trained"] = facts["train_tokens"]["tokens_trained"]
        metrics["tokens_total"] = facts["train_tokens"]["tokens_total"]
        metrics["pct_tokens_trained"] = facts["train_tokens"]["pct_tokens_trained"]
    (local_out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    (local_out / "training_config.json").write_text(
        json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n"
    )
    if not storage.is_local(cfg.output_uri):
        _upload_dir(local_out, cfg.output_uri)
    _say(f"wrote {cfg.output_uri}: " + ", ".join(sorted(p.name for p in local_out.iterdir() if p.is_file())))
    return metrics


def latest_checkpoint(checkpoint_dir: str | None) -> str | None:
    """The newest ``checkpoint-<step>`` folder in ``checkpoint_dir`` (None when there is none)."""
    if not checkpoint_dir or not Path(checkpoint_dir).is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(checkpoint_dir)


def production_comparison(cfg: TrainingConfig, trainer, work: Path, has_eval: bool) -> dict[str, Any]:
    """Eval loss of the adapter aliased ``production`` on this run's held-out split, with the same trainer.

    The production adapter (``gate.production_adapter_uri``, downloaded when s3://) is loaded next to
    the new one, made active for one ``trainer.evaluate()`` and removed again, so both are measured by
    the same code on the same examples. Skipped (and said why) without a production adapter, without an
    eval split, for full fine-tuning or when ``gate.compare_to_production`` is off.
    """
    from include.training.metrics import perplexity

    uri = cfg.gate.production_adapter_uri
    out: dict[str, Any] = {
        "production_adapter_uri": uri,
        "production_version": cfg.gate.production_version,
        "production_eval_loss": None,
    }
    reason = None
    if not cfg.gate.compare_to_production:
        reason = "gate.compare_to_production is false"
    elif not uri:
        reason = "no production adapter in the registry"
    elif not has_eval:
        reason = "no held-out split"
    elif cfg.peft == "none":
        reason = "full fine-tuning: production comparison needs an adapter (peft=lora/qlora)"
    if reason:
        return {**out, "production_check": f"skipped: {reason}"}
    from include.training.models import local_model_path

    model = trainer.model
    path = local_model_path(uri, work)
    model.load_adapter(path, adapter_name="production", is_trainable=False)
    try:
        model.set_adapter("production")
        result = trainer.evaluate()
    finally:
        model.set_adapter("default")
        model.delete_adapter("production")
    loss = result.get("eval_loss")
    _say(f"production adapter v{cfg.gate.production_version} eval_loss={loss}")
    return {
        **out,
        "production_eval_loss": loss,
        "production_eval_perplexity": perplexity(loss) if cfg.method == "sft" else None,
        "production_check": "evaluated",
    }


def quiet_third_party() -> None:
    """Keep the task log to progress lines: no progress bars, no v6 deprecation notices, no
    bitsandbytes notice about optional CPU kernels."""
    import warnings

    warnings.filterwarnings(
        "ignore", message=r".*deprecated and will be removed in v6.*", category=FutureWarning
    )
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        import datasets
        import transformers

        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def load_config_file(path: str) -> dict:
    if storage.is_s3(path):
        return parse_overrides(storage.read_bytes(path).decode())
    return parse_overrides(Path(path).read_text() if Path(path).exists() else path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["train"]:  # SageMaker runs the image as `<entrypoint> train`
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        quiet_third_party()
        from include.training.sagemaker_container import sagemaker_main

        return sagemaker_main()
    p = argparse.ArgumentParser(prog="python -m include.training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="training config (JSON/YAML file, local or s3://)")
    p.add_argument("--dataset-uri", help="overrides dataset_uri")
    p.add_argument("--output-uri", help="overrides output_uri")
    p.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    p.add_argument("--tokenized-uri", help="tokenized set to train from (SFT; read, not tokenized again)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_third_party()
    try:
        cfg = load_training_config(
            load_config_file(args.config), dataset_uri=args.dataset_uri, output_uri=args.output_uri
        )
        run(cfg, args.workdir, args.tokenized_uri)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
