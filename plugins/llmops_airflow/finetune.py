"""Tasks of the ``finetune_adapter`` DAG: plan -> build set -> prepare launch -> train (local |
kubernetes | sagemaker) -> evaluate -> register -> promote.

The logic lives in ``include/training`` and ``include/registry``; these functions turn
library errors into ``AirflowFailException`` with the message a user needs, and keep the
run's files together under ``<work_uri>/<run_id>/``::

    plan.json  trainset/{train,eval}.jsonl,trainset.json  launch_config.json
    model/ (adapter or full model, tokenizer, metrics.json, training_config.json)
    sagemaker/<job>/output/model.tar.gz (backend sagemaker; unpacked into model/)
    evaluation.json  registration.json  promotion.json

Light imports only at module level (the DAG file imports this at parse time).
"""

from __future__ import annotations

import logging
import os
import re

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
from include.settings import REPO_ROOT
from llmops_airflow.assets import CURATED_DATASET

log = logging.getLogger(__name__)

#: finetune_adapter is scheduled on the curated dataset curate_dataset's publish task emits
#: (event extra: version, rows, manifest, curated, output_uri)
CURATED_DATASET_ASSET = CURATED_DATASET

DEFAULT_WORK_URI = os.environ.get("LLMOPS_FINETUNE_WORK_URI", str(REPO_ROOT / "output" / "finetune"))
DEFAULT_REGISTRY_URI = os.environ.get("LLMOPS_REGISTRY_URI", "s3://llmops-adapters/registry")
DEFAULT_BASE_MODEL = os.environ.get("LLMOPS_BASE_MODEL", "")
DEFAULT_AWS_CONN_ID = os.environ.get("LLMOPS_REGISTRY_AWS_CONN_ID", "")
PLAN_TASK_ID = "plan"
#: the task that runs the training for each backend (prepare_launch branches to one of them)
TRAIN_TASK_IDS = {"local": "train", "kubernetes": "train_kubernetes", "sagemaker": "train_sagemaker"}
PRODUCTION_ALIAS = "production"
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def registry_uri_param():
    """The ``registry_uri`` Param, the same in every DAG that reads or writes the registry."""
    from airflow.sdk import Param

    return Param(
        DEFAULT_REGISTRY_URI,
        type="string",
        title="Registry URI",
        description="S3 adapter registry root, s3://bucket[/prefix] (endpoint: aws_conn_id or $AWS_ENDPOINT_URL)",
    )


def aws_conn_id_param():
    """The ``aws_conn_id`` Param of the registry, the same in every DAG that uses it."""
    from airflow.sdk import Param

    return Param(
        DEFAULT_AWS_CONN_ID,
        type="string",
        title="AWS connection",
        description="Airflow AWS connection for the registry (extra.endpoint_url for MinIO); empty: environment",
    )


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
    return {
        "root": root,
        "plan": storage.join(root, "plan.json"),
        "trainset": storage.join(root, "trainset"),
        "launch_config": storage.join(root, "launch_config.json"),
        "model": storage.join(root, "model"),
        "evaluation": storage.join(root, "evaluation.json"),
        "registration": storage.join(root, "registration.json"),
        "promotion": storage.join(root, "promotion.json"),
        "sagemaker": storage.join(root, "sagemaker"),
    }


def plan_run(params: dict, run_id: str, triggering_asset_events=None, local_gpu_check: bool = True) -> dict:
    """Validate the Params, check dataset/model/backend and plan GPU memory. Fails before any work."""
    from include.training.backends import BackendError, get_backend

    p = dict(params or {})
    for key, allowed in (("method", METHODS), ("peft", PEFT_MODES), ("backend", BACKENDS)):
        if p.get(key) not in allowed:
            _fail(f"Param {key}={p.get(key)!r} is invalid; choose one of {', '.join(allowed)}")
    dataset_uri = (p.get("dataset_uri") or "").strip() or dataset_from_events(triggering_asset_events)
    if not dataset_uri:
        _fail(
            "Param dataset_uri is empty and the run was not triggered by a curated_dataset asset event "
            "naming its curated/ folder: give the curated/ folder of a published dataset version"
        )
    base_model = (p.get("base_model") or "").strip()
    if not base_model:
        _fail("Param base_model is required: a local model folder or a hub id available in the HF cache")
    work_uri = (p.get("work_uri") or DEFAULT_WORK_URI).strip()
    paths = run_paths(work_uri, run_id)
    hp = p.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        _fail(f"Param hyperparameters must be an object, got {type(hp).__name__}")
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
        _fail(str(exc))
    adapter_name = (p.get("adapter_name") or "").strip() or default_adapter_name(
        base_model, cfg.method, cfg.peft
    )
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
        "promote": bool(p.get("promote")),
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
        _fail(
            f"dataset_uri {cfg.dataset_uri}: {exc} (expected a folder of canonical Parquet, e.g. a curated/)"
        )
    log.info("dataset %s: %d Parquet files", cfg.dataset_uri, len(files))


def _model_config(cfg: TrainingConfig):
    from include.training.planner import load_model_config

    try:
        return load_model_config(cfg.base_model, cfg.base_model_revision)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, hub errors
        _fail(
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
        _fail(f"memory plan: {exc}")
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
        _fail(
            f"memory plan: the local GPU {info['device']} has {info['total_gb']} GB ({info['usable_gb']} GB "
            f"usable with a {cfg.planner.margin:.0%} margin) but the run needs {result['required_gb']} GB: "
            f"{result['summary']}"
        )
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
    log.info(
        "training set for %s: %d train / %d eval (skipped: %s) -> %s",
        cfg.method,
        len(ts.train),
        len(ts.eval),
        ts.info["skipped"] or "none",
        run["paths"]["trainset"],
    )
    return {
        k: ts.info[k]
        for k in ("train_rows", "eval_rows", "skipped", "dataset_content_hash", "dataset_manifest")
    }


def launch_config(run: dict) -> TrainingConfig:
    cfg = TrainingConfig.model_validate(run["config"])
    return cfg.model_copy(
        update={"dataset_uri": run["paths"]["trainset"], "output_uri": run["paths"]["model"]}
    )


def production_reference(cfg: TrainingConfig, run: dict) -> tuple[TrainingConfig, dict]:
    """Point the gate at the adapter aliased ``production`` (same base model and method), if any."""
    from include.registry import AdapterRegistry, RegistryError

    if not cfg.gate.compare_to_production:
        return cfg, {"skipped": "gate.compare_to_production is false"}
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        version = reg.resolve_alias(run["adapter_name"], PRODUCTION_ALIAS)
        manifest = reg.get(run["adapter_name"], version)
    except RegistryError as exc:
        return cfg, {"skipped": f"no production adapter: {exc}"}
    if (manifest.get("base_model"), manifest.get("method")) != (cfg.base_model, cfg.method):
        return cfg, {
            "skipped": f"production v{version} is {manifest.get('method')} on {manifest.get('base_model')}, "
            f"not {cfg.method} on {cfg.base_model}",
            "version": version,
        }
    gate = cfg.gate.model_copy(
        update={"production_adapter_uri": manifest["uri"], "production_version": version}
    )
    return cfg.model_copy(update={"gate": gate}), {"version": version, "uri": manifest["uri"]}


def prepare_launch(run: dict, dag_id: str) -> tuple[str, dict]:
    """Write the launch config (with the production reference) and render the backend's launch.

    Returns the task id to branch to and the launch description (XCom ``launch``): the backend,
    the config URI, the production reference and, for remote backends, the rendered pod / job.
    """
    from include.training.backends import BackendError

    cfg, production = production_reference(launch_config(run), run)
    paths = run["paths"]
    storage.write_json(paths["launch_config"], cfg.to_dict())
    launch: dict = {"backend": cfg.backend, "config_uri": paths["launch_config"], "production": production}
    log.info("production comparison: %s", production)
    try:
        if cfg.backend == "kubernetes":
            from include.training.backends.kubernetes import pod_spec

            launch["kubernetes"] = pod_spec(
                cfg,
                run["plan"],
                config_uri=paths["launch_config"],
                run_id=run["run_id"],
                adapter_name=run["adapter_name"],
            )
        elif cfg.backend == "sagemaker":
            from include.training.backends import sagemaker as sm

            s = cfg.sagemaker
            base = sm.job_base_name(s.job_name_prefix, dag_id, run["run_id"])
            output = s.output_s3_uri or paths["sagemaker"]
            config = sm.training_job_config(
                cfg,
                run["plan"],
                name=sm.job_name(base, 1),
                base_name=base,
                config_uri=paths["launch_config"],
                dataset_uri=run["config"]["dataset_uri"],
                output_s3_uri=output,
            )
            launch["sagemaker"] = {
                "base_name": base,
                "config": config,
                "output_s3_uri": output,
                "aws_conn_id": s.aws_conn_id,
                "region_name": s.region_name,
                "check_interval_seconds": s.check_interval_seconds,
                "deferrable": s.deferrable,
                "print_log": s.print_log,
                "max_ingestion_time": (s.max_wait_seconds or 2 * s.max_runtime_seconds)
                if s.use_spot
                else s.max_runtime_seconds,
            }
    except BackendError as exc:
        _fail(str(exc))
    return TRAIN_TASK_IDS[cfg.backend], launch


def unpack_sagemaker_model(run: dict, training: dict | None) -> dict:
    """``model.tar.gz`` of the finished SageMaker job -> the run's ``model/`` folder."""
    from include.training.backends import BackendError
    from include.training.backends.sagemaker import unpack_model_tar

    desc = (training or {}).get("Training") or {}
    tar_uri = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not tar_uri:
        _fail(f"the SageMaker job {desc.get('TrainingJobName')} reported no model artifact")
    try:
        files = unpack_model_tar(tar_uri, run["paths"]["model"])
    except BackendError as exc:
        _fail(str(exc))
    log.info("unpacked %s -> %s: %s", tar_uri, run["paths"]["model"], ", ".join(files))
    return {"job": desc.get("TrainingJobName"), "model_tar": tar_uri, "files": files}


def train(run: dict) -> dict:
    """Run the entry point on the worker (backend ``local``: subprocess, live log)."""
    from include.training.backends import BackendError, get_backend

    cfg = TrainingConfig.model_validate(storage.read_json(run["paths"]["launch_config"]))
    backend = get_backend(cfg.backend)
    try:
        # the registry connection (production adapter download) reaches the subprocess as env vars
        from include.registry import connection_env

        facts = backend.launch(
            cfg,
            run["paths"]["launch_config"],
            on_line=lambda line: log.info("%s", line),
            env=connection_env(run.get("aws_conn_id")),
        )
    except BackendError as exc:
        raise RuntimeError(str(exc)) from None  # retried: may be transient (OOM from a neighbour, spot loss)
    metrics = storage.read_json(storage.join(run["paths"]["model"], "metrics.json"))
    summary = {
        k: metrics.get(k)
        for k in (
            "train_loss",
            "eval_loss",
            "base_eval_loss",
            "eval_perplexity",
            "pct_tokens_trained",
            "global_steps",
            "peak_memory_bytes",
            "wall_seconds",
            "reward_mean",
            "eval_accuracy",
        )
    }
    log.info("trained: %s", summary)
    return {**facts, "metrics": summary}


def evaluate(run: dict) -> dict:
    """Completeness of the output (fails when incomplete) + the evaluation gate (recorded, the
    ``promote`` task acts on it)."""
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
        log.info(
            "gate %-28s %s %s %s -> %s",
            c["check"],
            c["value"],
            c["op"],
            c["threshold"],
            f"skipped ({c['reason']})" if c.get("skipped") else "pass" if c["passed"] else "FAIL",
        )
    log.info("gate %s%s", gate["status"], f": {'; '.join(gate['reasons'])}" if gate["reasons"] else "")
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
        cfg_dict=identity_cfg.to_dict(),
        config_hash=identity_cfg.digest(),
        trainset_info=trainset,
        metrics=metrics,
        evaluation=evaluation,
        model_uri=model_uri,
        base=ev.base_model_fingerprint(cfg.base_model, cfg.base_model_revision),
        tokenizer_hash=ev.tokenizer_hash(model_uri),
        run_id=run["run_id"],
    )
    manifest["plan"] = {
        k: run["plan"].get(k) for k in ("gpu", "sagemaker_instance", "required_gb", "components_gb")
    }
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        version = reg.register(run["adapter_name"], model_uri, manifest)
    except RegistryError as exc:
        _fail(str(exc))
    out = {
        **version.to_dict(),
        "gate": evaluation.get("status", "passed" if evaluation.get("passed") else "failed"),
    }
    storage.write_json(run["paths"]["registration"], out)
    log.info(
        "registered %s v%d at %s (manifest %s, %s)",
        version.adapter_name,
        version.version,
        version.uri,
        version.manifest_uri,
        "new" if version.created else "same content as an existing version",
    )
    return out


def promote(run: dict, registration: dict) -> dict:
    """Aliases after registration: a failed gate fails the run (the version stays recorded, no alias
    moved); a passing version is ``latest`` (moved by the registry) and becomes ``production`` when
    the ``promote`` Param is set, else waits for the ``promote_adapter`` DAG."""
    from include.registry import AdapterRegistry, RegistryError

    name, version = registration["adapter_name"], registration["version"]
    evaluation = storage.read_json(run["paths"]["evaluation"])
    out = {"adapter_name": name, "version": version, "gate": registration.get("gate"), "aliases": {}}
    if not evaluation.get("passed"):
        storage.write_json(run["paths"]["promotion"], out)
        _fail(
            f"evaluation gate failed: {'; '.join(evaluation.get('reasons') or [])}. {name} v{version} is recorded "
            "with gate: failed; latest and production were not moved"
        )
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        if run.get("promote"):
            out["aliases"][PRODUCTION_ALIAS] = reg.set_alias(name, PRODUCTION_ALIAS, version)
            log.info("promoted %s v%d to %s", name, version, PRODUCTION_ALIAS)
        else:
            log.info(
                "%s v%d passed its gate and is latest; production unchanged (Param promote is off): trigger "
                "the promote_adapter DAG to promote it",
                name,
                version,
            )
        out["current"] = reg.aliases(name)
    except RegistryError as exc:
        _fail(str(exc))
    storage.write_json(run["paths"]["promotion"], out)
    return out


def promote_version(params: dict) -> dict:
    """``promote_adapter``: point ``alias`` at ``version``; a failed-gate version needs ``force``."""
    from include.registry import AdapterRegistry, RegistryError

    p = dict(params or {})
    name, ref, alias = (str(p.get(k) or "").strip() for k in ("adapter_name", "version", "alias"))
    try:
        reg = AdapterRegistry(
            str(p.get("registry_uri") or "").strip(), aws_conn_id=(p.get("aws_conn_id") or "").strip() or None
        )
        pointer = reg.set_alias(name, alias or PRODUCTION_ALIAS, ref or "latest", force=bool(p.get("force")))
    except RegistryError as exc:
        _fail(str(exc))  # a refused promotion is final: no retry
    log.info(
        "%s: %s now -> v%d (was %s)%s",
        name,
        pointer["alias"],
        pointer["version"],
        pointer["previous_version"],
        " FORCED despite a failed gate" if pointer.get("forced_despite_failed_gate") else "",
    )
    return pointer
