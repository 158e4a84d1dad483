"""Tasks of the ``finetune_adapter`` DAG: plan -> build set -> train -> evaluate -> register.

The logic lives in ``include/training`` and ``include/registry``; these functions turn
library errors into ``AirflowFailException`` with the message a user needs, and keep the
run's files together under ``<work_uri>/<run_id>/``::

    plan.json  trainset/{train,eval}.jsonl,trainset.json  launch_config.json
    model/ (adapter or full model, tokenizer, metrics.json, training_config.json)
    evaluation.json  registration.json

Light imports only at module level (the DAG file imports this at parse time).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from include import storage
from include.config import ConfigError
from include.config.training import (
    BACKENDS,
    METHODS,
    PEFT_MODES,
    TrainingConfig,
    hyperparameters_to_overrides,
    load_training_config,
)
from llmops_airflow.assets import CURATED_DATASET

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]

#: finetune_adapter is scheduled on the curated dataset curate_dataset's publish task emits
#: (event extra: version, rows, manifest, curated, output_uri)
CURATED_DATASET_ASSET = CURATED_DATASET

DEFAULT_WORK_URI = os.environ.get("LLMOPS_FINETUNE_WORK_URI", str(REPO_ROOT / "output" / "finetune"))
DEFAULT_REGISTRY_URI = os.environ.get("LLMOPS_REGISTRY_URI", "s3://llmops-adapters/registry")
DEFAULT_BASE_MODEL = os.environ.get("LLMOPS_BASE_MODEL", "")
DEFAULT_AWS_CONN_ID = os.environ.get("LLMOPS_REGISTRY_AWS_CONN_ID", "")
PLAN_TASK_ID = "plan"
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("_") or "run"


def _fail(msg: str) -> None:
    raise AirflowFailException(msg)


def dataset_from_events(triggering_asset_events) -> str | None:
    """The ``curated`` folder (or ``curated_uri`` / ``uri``) named by the newest triggering asset event."""
    if not triggering_asset_events:
        return None
    events = []
    for evs in triggering_asset_events.values():
        events.extend(evs or [])
    for ev in reversed(events):
        extra = getattr(ev, "extra", None) or {}
        uri = extra.get("curated") or extra.get("curated_uri") or extra.get("uri")
        if uri:
            return str(uri)
    return None


def default_adapter_name(base_model: str, method: str, peft: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base_model.rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "model"
    return f"{base}-{method}-{peft}"[:128]


def run_paths(work_uri: str, run_id: str) -> dict:
    root = storage.join(work_uri, _safe(run_id))
    return {"root": root, "plan": storage.join(root, "plan.json"), "trainset": storage.join(root, "trainset"),
            "launch_config": storage.join(root, "launch_config.json"), "model": storage.join(root, "model"),
            "evaluation": storage.join(root, "evaluation.json"),
            "registration": storage.join(root, "registration.json")}


def plan_run(params: dict, run_id: str, triggering_asset_events=None, local_gpu_check: bool = True) -> dict:
    """Validate the Params, check dataset/model/backend and plan GPU memory. Fails before any work."""
    from include.training.backends import BackendError, get_backend

    p = dict(params or {})
    for key, allowed in (("method", METHODS), ("peft", PEFT_MODES), ("backend", BACKENDS)):
        if p.get(key) not in allowed:
            _fail(f"Param {key}={p.get(key)!r} is invalid; choose one of {', '.join(allowed)}")
    dataset_uri = (p.get("dataset_uri") or "").strip() or dataset_from_events(triggering_asset_events)
    if not dataset_uri:
        _fail("Param dataset_uri is empty and the run was not triggered by a curated_dataset asset event "
              "naming its curated/ folder: give the curated/ folder of a published dataset version")
    base_model = (p.get("base_model") or "").strip()
    if not base_model:
        _fail("Param base_model is required: a local model folder or a hub id available in the HF cache")
    work_uri = (p.get("work_uri") or DEFAULT_WORK_URI).strip()
    paths = run_paths(work_uri, run_id)
    hp = p.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        _fail(f"Param hyperparameters must be an object, got {type(hp).__name__}")
    try:
        cfg = load_training_config(hyperparameters_to_overrides(hp), base_model=base_model, method=p["method"],
                                   peft=p["peft"], backend=p["backend"], dataset_uri=dataset_uri,
                                   output_uri=paths["model"])
    except ConfigError as exc:
        _fail(str(exc))
    adapter_name = (p.get("adapter_name") or "").strip() or default_adapter_name(base_model, cfg.method, cfg.peft)
    if not ADAPTER_NAME_RE.match(adapter_name):
        _fail(f"Param adapter_name={adapter_name!r} is invalid: letters, digits, '.', '_' or '-' (max 128)")
    registry_uri = (p.get("registry_uri") or "").strip()
    if not registry_uri.startswith(("s3://", "s3a://")):
        _fail(f"Param registry_uri must be s3://bucket[/prefix], got {registry_uri!r}")
    try:
        get_backend(cfg.backend).validate(cfg)
    except BackendError as exc:
        _fail(str(exc))
    _check_dataset(cfg)
    model_config = _model_config(cfg)
    plan = _plan_memory(cfg, model_config, local_gpu_check)
    run = {
        "run_id": run_id,
        "paths": paths,
        "config": cfg.to_dict(),
        "config_hash": cfg.digest(),
        "adapter_name": adapter_name,
        "registry_uri": registry_uri,
        "aws_conn_id": (p.get("aws_conn_id") or "").strip() or None,
        "plan": plan,
    }
    storage.write_json(paths["plan"], run)
    log.info("plan: %s %s/%s on %s -> adapter %s in %s; %s", base_model, cfg.method, cfg.peft, cfg.backend,
             adapter_name, registry_uri, plan.get("summary"))
    return run


def _check_dataset(cfg: TrainingConfig) -> None:
    from include.training.dataset import is_training_set

    if is_training_set(cfg.dataset_uri):
        return
    try:
        files = storage.list_files(cfg.dataset_uri, (".parquet",))
    except (FileNotFoundError, ValueError, OSError) as exc:
        _fail(f"dataset_uri {cfg.dataset_uri}: {exc} (expected a folder of canonical Parquet, e.g. a curated/)")
    log.info("dataset %s: %d Parquet files", cfg.dataset_uri, len(files))


def _model_config(cfg: TrainingConfig):
    from include.training.planner import load_model_config

    try:
        return load_model_config(cfg.base_model, cfg.base_model_revision)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, hub errors
        _fail(f"base_model {cfg.base_model!r}: cannot read its config ({type(exc).__name__}: {exc}); give a local "
              "folder or a hub id present in the HF cache (downloads are off when HF_HUB_OFFLINE=1)")


def _plan_memory(cfg: TrainingConfig, model_config, local_gpu_check: bool) -> dict:
    from include.training import planner

    if not cfg.planner.enabled:
        return {"enabled": False, "summary": "planner disabled"}
    try:
        result = planner.plan(cfg, model_config)
    except planner.PlanError as exc:
        _fail(f"memory plan: {exc}")
    result["summary"] = (f"{planner.format_plan(result)}; smallest fitting GPU: {result['gpu']} "
                         f"(SageMaker {result['sagemaker_instance']})")
    log.info("memory plan: %s", result["summary"])
    if cfg.backend == "local" and local_gpu_check:
        result["local_device"] = _local_device_check(cfg, result)
    return result


def _local_device_check(cfg: TrainingConfig, result: dict) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"device": "cpu", "note": "no CUDA device on this worker: the local run uses the CPU"}
    free, total = torch.cuda.mem_get_info()
    usable = total * (1 - cfg.planner.margin)
    required = result["required_gb"] * 1e9
    info = {"device": torch.cuda.get_device_name(0), "total_gb": round(total / 1e9, 2),
            "usable_gb": round(usable / 1e9, 2), "fits": required <= usable}
    if not info["fits"]:
        _fail(f"memory plan: the local GPU {info['device']} has {info['total_gb']} GB ({info['usable_gb']} GB "
              f"usable with a {cfg.planner.margin:.0%} margin) but the run needs {result['required_gb']} GB: "
              f"{result['summary']}")
    return info


def build_set(run: dict) -> dict:
    """Canonical rows -> training set under ``<run>/trainset`` (deterministic split)."""
    from include.training import dataset as ds

    cfg = TrainingConfig.model_validate(run["config"])
    try:
        ts = ds.prepare_training_set(cfg.dataset_uri, cfg.method, cfg.data)
    except ds.DatasetError as exc:
        _fail(str(exc))
    ds.write_training_set(ts, run["paths"]["trainset"])
    log.info("training set for %s: %d train / %d eval (skipped: %s) -> %s", cfg.method, len(ts.train), len(ts.eval),
             ts.info["skipped"] or "none", run["paths"]["trainset"])
    return {k: ts.info[k] for k in ("train_rows", "eval_rows", "skipped", "dataset_content_hash", "dataset_manifest")}


def launch_config(run: dict) -> TrainingConfig:
    cfg = TrainingConfig.model_validate(run["config"])
    return cfg.model_copy(update={"dataset_uri": run["paths"]["trainset"], "output_uri": run["paths"]["model"]})


def train(run: dict) -> dict:
    """Run the entry point on the configured backend (local: subprocess, live log)."""
    from include.training.backends import BackendError, get_backend

    cfg = launch_config(run)
    storage.write_json(run["paths"]["launch_config"], cfg.to_dict())
    backend = get_backend(cfg.backend)
    try:
        facts = backend.launch(cfg, run["paths"]["launch_config"], on_line=lambda line: log.info("%s", line))
    except BackendError as exc:
        raise RuntimeError(str(exc)) from None  # retried: may be transient (OOM from a neighbour, spot loss)
    metrics = storage.read_json(storage.join(run["paths"]["model"], "metrics.json"))
    summary = {k: metrics.get(k) for k in ("train_loss", "eval_loss", "base_eval_loss", "eval_perplexity",
                                           "pct_tokens_trained", "global_steps", "peak_memory_bytes",
                                           "wall_seconds", "reward_mean", "eval_accuracy")}
    log.info("trained: %s", summary)
    return {**facts, "metrics": summary}


def evaluate(run: dict) -> dict:
    """Completeness of the output + the evaluation gate; fails (no retry) when the gate fails."""
    from include.training import evaluate as ev

    cfg = TrainingConfig.model_validate(run["config"])
    model_uri = run["paths"]["model"]
    try:
        outputs = ev.check_outputs(model_uri)
    except (ev.GateFailed, FileNotFoundError) as exc:
        _fail(str(exc))
    metrics = ev.load_json(storage.join(model_uri, "metrics.json"))
    gate = ev.apply_gate(metrics, cfg.gate, cfg.method)
    result = {"outputs": outputs, **gate}
    storage.write_json(run["paths"]["evaluation"], result)
    for c in gate["checks"]:
        log.info("gate %-28s %s %s %s -> %s", c["check"], c["value"], c["op"], c["threshold"],
                 "pass" if c["passed"] else "FAIL")
    if not gate["passed"]:
        _fail("evaluation gate failed: " + "; ".join(f"{c['check']}={c['value']} (needs {c['op']} {c['threshold']})"
                                                     for c in gate["checks"] if not c["passed"]))
    return result


def register(run: dict, evaluation: dict) -> dict:
    """Upload the model folder as the next registry version with its lineage manifest."""
    from include.registry import AdapterRegistry, RegistryError
    from include.training import evaluate as ev

    cfg = TrainingConfig.model_validate(run["config"])
    model_uri = run["paths"]["model"]
    metrics = ev.load_json(storage.join(model_uri, "metrics.json"))
    trainset = ev.load_json(storage.join(run["paths"]["trainset"], "trainset.json"))
    identity_cfg = cfg.model_copy(update={"output_uri": ""})  # run folders are not part of the identity
    manifest = ev.lineage_manifest(
        cfg_dict=identity_cfg.to_dict(), config_hash=identity_cfg.digest(), trainset_info=trainset, metrics=metrics,
        evaluation=evaluation, model_uri=model_uri, base=ev.base_model_fingerprint(cfg.base_model,
                                                                                   cfg.base_model_revision),
        tokenizer_hash=ev.tokenizer_hash(model_uri), run_id=run["run_id"],
    )
    manifest["plan"] = {k: run["plan"].get(k) for k in ("gpu", "sagemaker_instance", "required_gb", "components_gb")}
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        version = reg.register(run["adapter_name"], model_uri, manifest)
    except RegistryError as exc:
        _fail(str(exc))
    out = version.to_dict()
    storage.write_json(run["paths"]["registration"], out)
    log.info("registered %s v%d at %s (manifest %s, %s)", version.adapter_name, version.version, version.uri,
             version.manifest_uri, "new" if version.created else "same content as an existing version")
    return out
