"""After training: check the output is complete, apply the evaluation gate, assemble the lineage manifest.

Gate (``gate`` config), per method, on the metrics the entry point computed on the held-out split:

* ``sft``: ``eval_loss / base_eval_loss <= max_eval_loss_ratio`` (default 1.0: not worse than the base
  model on the same eval split);
* ``dpo``: ``eval_loss / ln(2) <= max_eval_loss_ratio`` (ln 2 is the DPO loss of the untrained policy,
  which equals its reference);
* ``reward``: ``eval_accuracy >= min_reward_accuracy``;
* ``grpo``: no held-out metric; the reward statistics must be finite.

Every method: metrics must be finite (``require_finite_metrics``). Drift over repeated
fine-tunes: when the entry point evaluated the adapter aliased ``production`` on the same
held-out split (``production_eval_loss``), ``eval_loss / production_eval_loss <=
max_eval_loss_ratio_vs_production``; without a production adapter the check is recorded as
skipped (with the reason). A failed gate does not stop registration: the version is recorded
with ``gate.status: failed`` and its ``reasons``, and no alias moves.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from include import storage

WEIGHT_SETS = (
    ("adapter_config.json", "adapter_model.safetensors"),
    ("config.json", "model.safetensors"),
    ("config.json", "model.safetensors.index.json"),
)


class GateFailed(RuntimeError):
    """The trained model did not pass the evaluation gate."""


def list_outputs(model_uri: str) -> list[str]:
    return [f.relative for f in storage.list_files(model_uri)]


def check_outputs(model_uri: str) -> dict:
    """The model folder has weights, a tokenizer, metrics.json and training_config.json."""
    files = set(list_outputs(model_uri))
    missing = [f for f in ("metrics.json", "training_config.json") if f not in files]
    if not ({"tokenizer.json", "tokenizer_config.json"} & files):
        missing.append("tokenizer (tokenizer.json / tokenizer_config.json)")
    if not any(set(ws) <= files for ws in WEIGHT_SETS):
        missing.append(
            "weights (adapter_config.json + adapter_model.safetensors, or config.json + model.safetensors)"
        )
    if missing:
        raise GateFailed(f"training output at {model_uri} is incomplete: missing {', '.join(missing)}")
    kind = "adapter" if "adapter_config.json" in files else "full_model"
    return {"files": sorted(files), "kind": kind}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def apply_gate(metrics: dict, gate, method: str) -> dict:
    checks: list[dict] = []

    def check(name, value, op, threshold):
        ok = _finite(value) and (value <= threshold if op == "<=" else value >= threshold)
        checks.append({"check": name, "value": value, "op": op, "threshold": threshold, "passed": bool(ok)})

    if gate.require_finite_metrics:
        keys = [
            k
            for k in ("train_loss", "eval_loss", "base_eval_loss", "reward_mean")
            if metrics.get(k) is not None
        ]
        bad = [k for k in keys if not _finite(metrics[k])]
        checks.append(
            {
                "check": "finite_metrics",
                "value": bad or keys,
                "op": "all finite",
                "threshold": None,
                "passed": not bad and _finite(metrics.get("train_loss")),
            }
        )
    if method == "sft" and metrics.get("eval_loss") is not None and metrics.get("base_eval_loss"):
        check(
            "eval_loss / base_eval_loss",
            metrics["eval_loss"] / metrics["base_eval_loss"],
            "<=",
            gate.max_eval_loss_ratio,
        )
    elif method == "dpo" and metrics.get("eval_loss") is not None:
        check("eval_loss / ln(2)", metrics["eval_loss"] / math.log(2), "<=", gate.max_eval_loss_ratio)
    elif method == "reward" and metrics.get("eval_accuracy") is not None:
        check("eval_accuracy", metrics["eval_accuracy"], ">=", gate.min_reward_accuracy)
    if gate.compare_to_production:
        prod = metrics.get("production_eval_loss")
        if prod and metrics.get("eval_loss") is not None:
            check(
                f"eval_loss / production v{metrics.get('production_version')} eval_loss",
                metrics["eval_loss"] / prod,
                "<=",
                gate.max_eval_loss_ratio_vs_production,
            )
        else:
            checks.append(
                {
                    "check": "eval_loss vs production",
                    "value": None,
                    "op": "<=",
                    "threshold": gate.max_eval_loss_ratio_vs_production,
                    "passed": True,
                    "skipped": True,
                    "reason": metrics.get("production_check") or "no production evaluation",
                }
            )
    passed = all(c["passed"] for c in checks) if gate.enabled else True
    reasons = [
        f"{c['check']}={c['value']} (needs {c['op']} {c['threshold']})" for c in checks if not c["passed"]
    ]
    compared = {
        k: metrics.get(k)
        for k in (
            "eval_loss",
            "eval_perplexity",
            "base_eval_loss",
            "base_eval_perplexity",
            "production_eval_loss",
            "production_eval_perplexity",
            "production_version",
        )
        if metrics.get(k) is not None
    }
    return {
        "enabled": gate.enabled,
        "passed": passed,
        "status": "passed" if passed else "failed",
        "reasons": reasons if gate.enabled else [],
        "checks": checks,
        "compared": compared,
    }


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def base_model_fingerprint(
    base_model: str, revision: str | None = None, max_hash_bytes: int = 2 << 30
) -> dict:
    """Identity of the base model: hub commit for hub ids, a content hash for local folders.

    Local folders: sha256 over config.json, tokenizer files and weight files (weights over
    ``max_hash_bytes`` in total are identified by name and size instead: ``weights_hashed: false``).
    """
    path = Path(storage.local_path(base_model))
    if path.is_dir():
        h = hashlib.sha256()
        weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
        hash_weights = sum(p.stat().st_size for p in weights) <= max_hash_bytes
        for p in sorted(path.iterdir()):
            if not p.is_file():
                continue
            if p in weights and not hash_weights:
                h.update(f"{p.name}:{p.stat().st_size}\n".encode())
            elif p.suffix in (".json", ".safetensors", ".bin", ".model", ".jinja", ".txt"):
                h.update(f"{p.name}:{_sha256_file(p)}\n".encode())
        return {
            "base_model_hash": h.hexdigest(),
            "base_model_revision": revision,
            "weights_hashed": hash_weights,
        }
    commit = None
    try:
        from transformers import AutoConfig

        commit = getattr(AutoConfig.from_pretrained(base_model, revision=revision), "_commit_hash", None)
    except Exception:  # noqa: BLE001 - offline without cache: revision as given
        commit = None
    return {"base_model_hash": commit, "base_model_revision": revision or commit, "weights_hashed": None}


def lineage_manifest(
    *,
    cfg_dict: dict,
    config_hash: str,
    trainset_info: dict,
    metrics: dict,
    evaluation: dict,
    model_uri: str,
    base: dict,
    tokenizer_hash: str | None,
    run_id: str | None = None,
) -> dict:
    """What the registry records with a version (it adds version, files, content hash, created_at, parent)."""
    resolved = metrics.get("resolved", {})
    return {
        "base_model": cfg_dict["base_model"],
        "base_model_revision": base.get("base_model_revision"),
        "base_model_hash": base.get("base_model_hash"),
        "tokenizer_hash": tokenizer_hash,
        "chat_template_hash": resolved.get("chat_template_hash"),
        "chat_template_source": resolved.get("chat_template_source"),
        "dataset_uri": trainset_info.get("source_uri"),
        "dataset_manifest_uri": trainset_info.get("dataset_manifest"),
        "dataset_content_hash": trainset_info.get("dataset_content_hash"),
        "trainset": {
            k: trainset_info.get(k)
            for k in (
                "train_rows",
                "eval_rows",
                "split",
                "train_ids_hash",
                "eval_ids_hash",
                "skipped",
                "tokenized",
            )
        },
        "method": cfg_dict["method"],
        "peft": cfg_dict["peft"],
        "config": cfg_dict,
        "config_hash": config_hash,
        "metrics": {k: v for k, v in metrics.items() if k not in ("trainset", "libraries", "resolved")},
        "gate": evaluation,
        "code_version": metrics.get("code_version"),
        "library_versions": metrics.get("libraries"),
        "training_run": {"run_id": run_id, "model_uri": model_uri},
    }


def tokenizer_hash(model_uri: str) -> str | None:
    h = hashlib.sha256()
    found = False
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        uri = storage.join(model_uri, name)
        if storage.exists(uri):
            h.update(
                name.encode() + b":" + hashlib.sha256(storage.read_bytes(uri)).hexdigest().encode() + b"\n"
            )
            found = True
    return h.hexdigest() if found else None


def load_json(uri: str) -> dict:
    return json.loads(storage.read_bytes(uri))
