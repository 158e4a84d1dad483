"""``finetune_adapter``'s ``plan`` step: which dataset and model (Params, the triggering Asset
event, the training profile), the validated training config, fail-early checks (dataset,
registry and work folder reachable, memory plan, local device) and the run's file layout.

Light imports only at module level (the DAG file imports this at parse time).
"""

from __future__ import annotations

import logging
import re

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
from include.registry.layout import NAME_RE, NAME_RULE
from include.training.run_files import run_paths
from llmops_airflow.finetune_defaults import (
    DEFAULT_WORK_URI,
    fail,
)

log = logging.getLogger(__name__)


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


def event_output_uri(triggering_asset_events) -> str | None:
    """The curate ``output_uri`` named by the newest triggering asset event (the profile key)."""
    events = [ev for evs in (triggering_asset_events or {}).values() for ev in (evs or [])]
    for ev in reversed(events):
        uri = (getattr(ev, "extra", None) or {}).get("output_uri")
        if uri:
            return str(uri)
    return None


def with_profile(params: dict, conf: dict | None, triggering_asset_events) -> tuple[dict, dict]:
    """Params <- the training profile matching the dataset <- the trigger's conf (see profiles)."""
    from include.training.profiles import effective_params

    key = event_output_uri(triggering_asset_events) or (params.get("dataset_uri") or "")
    try:
        return effective_params(params, conf, key)
    except ConfigError as exc:
        fail(str(exc))


def check_reachable(registry_uri: str, aws_conn_id: str | None, work_uri: str, run_id: str) -> None:
    """Write and delete a probe in the registry (with its connection) and the work folder, so a
    missing server, bucket or credential fails here, naming the Param, the connection and the fix."""
    from urllib.parse import urlparse

    from include.registry.connection import s3_client

    name = ".write-check-" + re.sub(r"[^A-Za-z0-9]", "_", run_id)
    via = (
        f"connection aws_conn_id={aws_conn_id!r}"
        if aws_conn_id
        else "the AWS_* environment (aws_conn_id empty)"
    )
    try:  # the registry writes through boto3 with its connection: probe the same way
        parsed = urlparse(registry_uri)
        key = "/".join(x for x in (parsed.path.strip("/"), name) if x)
        client = s3_client(None, aws_conn_id)
        client.put_object(Bucket=parsed.netloc, Key=key, Body=b"ok\n")
        client.delete_object(Bucket=parsed.netloc, Key=key)
    except Exception as exc:  # noqa: BLE001 - any S3 / connection error: the message says what to fix
        fail(
            f"Param registry_uri={registry_uri!r} is not writable with {via}: {type(exc).__name__}: {exc}; fix: "
            "start the S3 server or create the bucket, and give credentials and endpoint (Param aws_conn_id: an "
            "Airflow AWS connection with extra.endpoint_url, or AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID on the workers)"
        )
    try:
        storage.probe_write(work_uri, name)
    except Exception as exc:  # noqa: BLE001
        fail(
            f"Param work_uri={work_uri!r} is not writable: {type(exc).__name__}: {exc}; fix: give a folder the "
            "Airflow workers may write to, or an s3:// prefix their AWS_* environment may write to"
        )


def plan_run(
    params: dict,
    run_id: str,
    triggering_asset_events=None,
    local_gpu_check: bool = True,
    conf: dict | None = None,
) -> dict:
    """Apply the training profile, validate the Params, check the dataset, model, backend, registry
    and work folder, and plan GPU memory. Fails before any work."""
    from include.training.backends import BackendError, get_backend

    p, profile = with_profile(dict(params or {}), conf, triggering_asset_events)
    log.info("training profile: %s", profile)
    for key, allowed in (("method", METHODS), ("peft", PEFT_MODES), ("backend", BACKENDS)):
        if p.get(key) not in allowed:
            fail(f"Param {key}={p.get(key)!r} is invalid; choose one of {', '.join(allowed)}")
    dataset_uri = (p.get("dataset_uri") or "").strip() or dataset_from_events(triggering_asset_events)
    if not dataset_uri:
        fail(
            "Param dataset_uri is empty and the run was not triggered by a curated_dataset asset event "
            "naming its curated/ folder: give the curated/ folder of a published dataset version"
        )
    base_model = (p.get("base_model") or "").strip()
    if not base_model:
        fail(
            f"Param base_model is empty and no training profile gives one (profiles file "
            f"{profile['profiles_file']}, matched: {profile['profile']}): add a profile with base_model there "
            "(or point LLMOPS_TRAINING_PROFILES at your file), set LLMOPS_BASE_MODEL for the Param's default, "
            "or trigger with base_model (a local model folder or a hub id in the HF cache)"
        )
    work_uri = (p.get("work_uri") or DEFAULT_WORK_URI).strip()
    paths = run_paths(work_uri, run_id)
    hp = p.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        fail(f"Param hyperparameters must be an object, got {type(hp).__name__}")
    try:
        cfg = load_training_config(
            hyperparameters_to_overrides(hp),
            base_model=base_model,
            method=p["method"],
            peft=p["peft"],
            backend=p["backend"],
            dataset_uri=dataset_uri,
            output_uri=paths["model"],
        )
    except ConfigError as exc:
        fail(str(exc))
    adapter_name = (p.get("adapter_name") or "").strip() or default_adapter_name(
        base_model, cfg.method, cfg.peft
    )
    if not NAME_RE.match(adapter_name):
        fail(f"Param adapter_name={adapter_name!r} is invalid: {NAME_RULE}")
    registry_uri = (p.get("registry_uri") or "").strip()
    if not registry_uri.startswith(("s3://", "s3a://")):
        fail(f"Param registry_uri must be s3://bucket[/prefix], got {registry_uri!r}")
    try:
        get_backend(cfg.backend).validate(cfg)
    except BackendError as exc:
        fail(str(exc))
    _check_dataset(cfg)
    model_config = _model_config(cfg)
    plan = _plan_memory(cfg, model_config, local_gpu_check)
    aws_conn_id = (p.get("aws_conn_id") or "").strip() or None
    check_reachable(registry_uri, aws_conn_id, work_uri, run_id)
    run = {
        "run_id": run_id,
        "paths": paths,
        "config": cfg.to_dict(),
        "config_hash": cfg.digest(),
        "adapter_name": adapter_name,
        "registry_uri": registry_uri,
        "aws_conn_id": aws_conn_id,
        "promote": bool(p.get("promote")),
        "profile": profile,
        "plan": plan,
    }
    storage.write_json(paths["plan"], run)
    log.info(
        "plan: %s %s/%s on %s -> adapter %s in %s; %s",
        base_model,
        cfg.method,
        cfg.peft,
        cfg.backend,
        adapter_name,
        registry_uri,
        plan.get("summary"),
    )
    return run


def _check_dataset(cfg: TrainingConfig) -> None:
    from include.training.dataset import is_training_set

    if is_training_set(cfg.dataset_uri):
        return
    try:
        files = storage.list_files(cfg.dataset_uri, (".parquet",))
    except (FileNotFoundError, ValueError, OSError) as exc:
        fail(
            f"dataset_uri {cfg.dataset_uri}: {exc} (expected a folder of canonical Parquet, e.g. a curated/)"
        )
    log.info("dataset %s: %d Parquet files", cfg.dataset_uri, len(files))


def _model_config(cfg: TrainingConfig):
    from include.training.model_shape import load_model_config

    try:
        return load_model_config(cfg.base_model, cfg.base_model_revision)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, hub errors
        fail(
            f"base_model {cfg.base_model!r}: cannot read its config ({type(exc).__name__}: {exc}); give a local "
            "folder or a hub id present in the HF cache (downloads are off when HF_HUB_OFFLINE=1)"
        )


def _plan_memory(cfg: TrainingConfig, model_config, local_gpu_check: bool) -> dict:
    from include.training import planner

    if not cfg.planner.enabled:
        return {"enabled": False, "summary": "planner disabled"}
    try:
        result = planner.plan(cfg, model_config)
    except planner.PlanError as exc:
        fail(f"memory plan: {exc}")
    result["summary"] = (
        f"{planner.format_plan(result)}; smallest fitting GPU: {result['gpu']} "
        f"(SageMaker {result['sagemaker_instance']})"
    )
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
    info = {
        "device": torch.cuda.get_device_name(0),
        "total_gb": round(total / 1e9, 2),
        "usable_gb": round(usable / 1e9, 2),
        "fits": required <= usable,
    }
    if not info["fits"]:
        fail(
            f"memory plan: the local GPU {info['device']} has {info['total_gb']} GB ({info['usable_gb']} GB "
            f"usable with a {cfg.planner.margin:.0%} margin) but the run needs {result['required_gb']} GB: "
            f"{result['summary']}"
        )
    return info
