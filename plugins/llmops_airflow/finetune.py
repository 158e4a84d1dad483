"""The ``finetune_adapter`` logic up to training: plan (``llmops_airflow.planning``) -> build set
-> prepare launch -> train (local) or unpack (sagemaker). ``llmops_airflow.registration`` does
evaluate -> register -> promote.

The logic lives in ``include/training`` and ``include/registry``; these functions turn
library errors into ``AirflowFailException`` with the message a user needs, and keep the
run's files together under ``<work_uri>/<run_id>/`` (``include.training.run_files``).

Light imports only at module level (the DAG file imports this at parse time).
"""

from __future__ import annotations

import logging

from include import storage
from include.config.training import TrainingConfig
from llmops_airflow.finetune_defaults import (
    CURATED_DATASET_ASSET,
    TRAIN_TASK_IDS,
    fail,
)
from llmops_airflow.planning import plan_run  # re-exported: the plan task imports it from here

__all__ = [
    "CURATED_DATASET_ASSET",
    "build_set",
    "plan_run",
    "prepare_launch",
    "train",
    "unpack_sagemaker_model",
]

log = logging.getLogger(__name__)


def build_set(run: dict) -> dict:
    """Canonical rows -> training set under ``<run>/trainset`` (deterministic split)."""
    from include.training import dataset as ds
    from include.training.tokenized_set import prepare_for_config as prepare_tokenized

    cfg = TrainingConfig.model_validate(run["config"])
    try:
        ts = ds.prepare_training_set(cfg.dataset_uri, cfg.method, cfg.data)
        tokenized = prepare_tokenized(cfg, ts, run["paths"].get("tokenized_cache"))
    except ds.DatasetError as exc:
        fail(str(exc))
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
        **{
            k: ts.info[k]
            for k in ("train_rows", "eval_rows", "skipped", "dataset_content_hash", "dataset_manifest")
        },
        "tokenized": tokenized and {k: tokenized[k] for k in ("key", "uri", "reused", "seconds")},
    }


def launch_config(run: dict) -> TrainingConfig:
    cfg = TrainingConfig.model_validate(run["config"])
    return cfg.model_copy(
        update={"dataset_uri": run["paths"]["trainset"], "output_uri": run["paths"]["model"]}
    )


def prepare_launch(run: dict, dag_id: str) -> tuple[str, dict]:
    """Write the launch config (with the production reference) and render the backend's launch.

    Returns the task id to branch to and the launch description (XCom ``launch``): the backend,
    the config URI, the production reference and, for remote backends, the rendered pod / job.
    """
    from include.training.backends import BackendError
    from include.training.dataset import TRAINSET_INFO
    from llmops_airflow.registration import production_reference

    cfg, production = production_reference(launch_config(run), run)
    paths = run["paths"]
    # the tokenized set build_set wrote (SFT): remote jobs read it instead of tokenizing again
    info_uri = storage.join(paths["trainset"], TRAINSET_INFO)
    info = storage.read_json(info_uri) if storage.exists(info_uri) else {}
    tokenized_uri = (info.get("tokenized") or {}).get("uri")
    storage.write_json(paths["launch_config"], cfg.to_dict())
    launch: dict = {
        "backend": cfg.backend,
        "config_uri": paths["launch_config"],
        "production": production,
        "tokenized_uri": tokenized_uri,
    }
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
                tokenized_uri=tokenized_uri,
            )
        elif cfg.backend == "sagemaker":
            from include.training.backends import sagemaker as sm

            launch["sagemaker"] = sm.launch_spec(
                cfg,
                run["plan"],
                dag_id=dag_id,
                run_id=run["run_id"],
                config_uri=paths["launch_config"],
                dataset_uri=run["config"]["dataset_uri"],
                default_output_uri=paths["sagemaker"],
                tokenized_uri=tokenized_uri,
            )
    except BackendError as exc:
        fail(str(exc))
    return TRAIN_TASK_IDS[cfg.backend], launch


def unpack_sagemaker_model(run: dict, training: dict | None) -> dict:
    """``model.tar.gz`` of the finished SageMaker job -> the run's ``model/`` folder."""
    from include.training.backends import BackendError
    from include.training.backends.sagemaker import unpack_model_tar

    desc = (training or {}).get("Training") or {}
    tar_uri = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not tar_uri:
        fail(f"the SageMaker job {desc.get('TrainingJobName')} reported no model artifact")
    try:
        files = unpack_model_tar(tar_uri, run["paths"]["model"])
    except BackendError as exc:
        fail(str(exc))
    log.info("unpacked %s -> %s: %s", tar_uri, run["paths"]["model"], ", ".join(files))
    return {"job": desc.get("TrainingJobName"), "model_tar": tar_uri, "files": files}


def train(run: dict) -> dict:
    """Run the entry point on the worker (backend ``local``: subprocess, live log)."""
    from include.training.backends import BackendError
    from llmops_airflow.local_training import in_process_launcher

    cfg = TrainingConfig.model_validate(storage.read_json(run["paths"]["launch_config"]))
    try:
        backend = in_process_launcher(cfg.backend)
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
    from llmops_airflow.lineage import record_edge

    record_edge([run["config"]["dataset_uri"]], [run["paths"]["model"]])  # OpenLineage: dataset -> model
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
