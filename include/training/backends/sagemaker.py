"""``backend: sagemaker``: the ``create_training_job`` request, job naming, and unpacking the result.

* :func:`job_base_name` / :func:`job_name`: deterministic per DAG run (``<prefix>-<hash of dag
  id + run id>``) and per try (``-t<N>`` from the second try). A retry first looks for the jobs of
  earlier tries (``llmops_airflow.launchers``): one that is running or completed is adopted, so a
  rerun never starts a second job; only a failed or stopped one is replaced by a new try.
* :func:`training_job_config`: the request built from the training config and the memory plan:
  image, ``RoleArn``, input channels ``train`` (the published dataset's S3 folder), ``config``
  (the run's launch config) and ``tokenized`` (the tokenized set of ``build_set``, when there is
  one: the container reads it instead of tokenizing again), output path, ``ResourceConfig`` with the planner's instance type,
  stopping condition, optional managed spot with ``CheckpointConfig`` (per run base name, so a
  retry resumes the earlier try's checkpoints), string hyperparameters.
* In the container (``python -m include.training.train train``, SageMaker's convention), the
  entry point reads ``/opt/ml/input/data/config/*.json``, trains on ``/opt/ml/input/data/train``,
  writes ``/opt/ml/model`` (uploaded as ``model.tar.gz``) and checkpoints to ``/opt/ml/checkpoints``
  (:func:`container_paths`).
* :func:`launch_spec`: that request with the job base name and the operator's settings, the
  XCom ``launch`` of ``finetune_adapter``'s ``prepare_launch``.
* :func:`unpack_model_tar`: ``<output>/<job>/output/model.tar.gz`` -> the run's ``model/`` folder,
  where ``evaluate`` and ``register`` pick it up (members with absolute paths, ``..`` or links are
  refused).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from include import storage
from include.config.training import TrainingConfig
from include.training.backends import BackendError, require_remote_uris

SM_ROOT_ENV = "LLMOPS_SAGEMAKER_ROOT"  # tests point the container layout elsewhere
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
MAX_NAME = 63


def container_paths(root: str | None = None) -> dict:
    base = Path(root or os.environ.get(SM_ROOT_ENV) or "/opt/ml")
    return {
        "config_dir": base / "input" / "data" / "config",
        "train": base / "input" / "data" / "train",
        "tokenized": base / "input" / "data" / "tokenized",
        "hyperparameters": base / "input" / "config" / "hyperparameters.json",
        "model": base / "model",
        "checkpoints": base / "checkpoints",
        "failure": base / "output" / "failure",
    }


def job_base_name(prefix: str, dag_id: str, run_id: str) -> str:
    digest = hashlib.sha256(f"{dag_id}\n{run_id}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"[: MAX_NAME - 4]


def job_name(base: str, try_number: int) -> str:
    return base if try_number <= 1 else f"{base}-t{int(try_number)}"


def earlier_job_names(base: str, try_number: int) -> list[str]:
    """Names an earlier try of the same run may have started, newest first."""
    return [job_name(base, t) for t in range(int(try_number) - 1, 0, -1)]


def validate(cfg: TrainingConfig) -> None:
    s = cfg.sagemaker
    missing = [
        key
        for key, value in (("sagemaker.image_uri", s.image_uri), ("sagemaker.role_arn", s.role_arn))
        if not value
    ]
    if missing:
        raise BackendError(
            f"backend 'sagemaker' needs {', '.join(missing)} (ECR training image and an execution "
            "role with S3 access; see README 'Where training runs')"
        )
    for key, value in (
        ("sagemaker.output_s3_uri", s.output_s3_uri),
        ("sagemaker.checkpoint_s3_uri", s.checkpoint_s3_uri),
    ):
        if value and not storage.is_s3(value):
            raise BackendError(f"{key} must be s3://..., got {value!r}")
    require_remote_uris(cfg, "sagemaker")


def _s3(uri: str) -> str:
    return "s3://" + uri.split("://", 1)[1]  # s3a:// -> s3://


def _prefix(uri: str) -> str:
    return _s3(uri).rstrip("/") + "/"


def hyperparameters(cfg: TrainingConfig) -> dict[str, str]:
    """What the SageMaker console shows; the container trains from the ``config`` channel and
    checks ``config_hash`` against it."""
    t = cfg.train
    hp = {
        "method": cfg.method,
        "peft": cfg.peft,
        "base_model": cfg.base_model,
        "config_hash": cfg.digest(),
        "num_train_epochs": t.num_train_epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "learning_rate": t.learning_rate or "auto",
        "lora_r": cfg.lora.r if cfg.peft != "none" else "none",
        "checkpoints": "true" if cfg.sagemaker.use_spot else "false",
    }
    return {key: str(value) for key, value in hp.items()}


def max_wait_seconds(s) -> int:
    """Managed spot: how long the job may wait for capacity and run (``None``: twice the runtime)."""
    return s.max_wait_seconds or 2 * s.max_runtime_seconds


def training_job_config(
    cfg: TrainingConfig,
    plan: dict,
    *,
    name: str,
    base_name: str,
    config_uri: str,
    dataset_uri: str,
    output_s3_uri: str,
    tokenized_uri: str | None = None,
) -> dict:
    """The ``create_training_job`` request (the operator's ``config``); with ``tokenized_uri`` (the
    set ``build_set`` wrote) a ``tokenized`` channel, which the container trains from."""
    validate(cfg)
    s = cfg.sagemaker
    instance = s.instance_type or plan.get("sagemaker_instance")
    if not instance:
        raise BackendError("no SageMaker instance type: set sagemaker.instance_type or enable the planner")

    def channel(channel_name: str, uri: str, data_type: str = "S3Prefix") -> dict:
        return {
            "ChannelName": channel_name,
            "InputMode": "File",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": data_type,
                    "S3Uri": uri,
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }

    config = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": s.image_uri, "TrainingInputMode": "File"},
        "RoleArn": s.role_arn,
        "InputDataConfig": [
            channel("train", _prefix(dataset_uri)),
            channel("config", _s3(config_uri)),
            *([channel("tokenized", _prefix(tokenized_uri))] if tokenized_uri else []),
        ],
        "OutputDataConfig": {"S3OutputPath": _s3(output_s3_uri).rstrip("/")},
        "ResourceConfig": {
            "InstanceType": instance,
            "InstanceCount": s.instance_count,
            "VolumeSizeInGB": s.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": s.max_runtime_seconds},
        "HyperParameters": hyperparameters(cfg),
        "Environment": {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"},
        "EnableManagedSpotTraining": s.use_spot,
        "Tags": [
            {"Key": "llmops:component", "Value": "training"},
            {"Key": "llmops:job-base-name", "Value": base_name},
            *({"Key": k, "Value": v} for k, v in sorted(s.tags.items())),
        ],
    }
    if s.use_spot:
        config["StoppingCondition"]["MaxWaitTimeInSeconds"] = max_wait_seconds(s)
        config["CheckpointConfig"] = {
            "S3Uri": _prefix(s.checkpoint_s3_uri) + base_name + "/",
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return config


def launch_spec(
    cfg: TrainingConfig,
    plan: dict,
    *,
    dag_id: str,
    run_id: str,
    config_uri: str,
    dataset_uri: str,
    default_output_uri: str,
    tokenized_uri: str | None = None,
) -> dict:
    """What ``llmops_airflow.launchers.TrainingJobOperator`` applies: the job request of the first try
    (:func:`training_job_config`), the run's job base name and the operator's settings."""
    s = cfg.sagemaker
    base = job_base_name(s.job_name_prefix, dag_id, run_id)
    output = s.output_s3_uri or default_output_uri
    config = training_job_config(
        cfg,
        plan,
        name=job_name(base, 1),
        base_name=base,
        config_uri=config_uri,
        dataset_uri=dataset_uri,
        output_s3_uri=output,
        tokenized_uri=tokenized_uri,
    )
    return {
        "base_name": base,
        "config": config,
        "output_s3_uri": output,
        "aws_conn_id": s.aws_conn_id,
        "region_name": s.region_name,
        "check_interval_seconds": s.check_interval_seconds,
        "deferrable": s.deferrable,
        "print_log": s.print_log,
        "max_ingestion_time": max_wait_seconds(s) if s.use_spot else s.max_runtime_seconds,
    }


def model_artifact_uri(output_s3_uri: str, name: str) -> str:
    return f"{_s3(output_s3_uri).rstrip('/')}/{name}/output/model.tar.gz"


def _safe_member(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise BackendError(f"model.tar.gz member {name!r} escapes the model folder")
    parts = [p for p in path.parts if p not in ("", ".")]
    return "/".join(parts)


def unpack_model_tar(tar_uri: str, dest_uri: str) -> list[str]:
    """Stream ``model.tar.gz`` (local or s3://) into ``dest_uri`` (local or s3://); returns the files written."""
    if not storage.exists(tar_uri):
        raise BackendError(f"model artifact not found: {tar_uri}")
    fs, base = storage.filesystem(dest_uri)
    written = []
    with storage.open_input(tar_uri) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
        for member in tar:
            rel = _safe_member(member.name)
            if member.isdir() or not rel:
                continue
            if not member.isfile():
                raise BackendError(f"model.tar.gz member {member.name!r} is a link or device; refusing it")
            src = tar.extractfile(member)
            assert src is not None
            target = f"{base.rstrip('/')}/{rel}"
            if storage.is_local(dest_uri):
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            with fs.open_output_stream(target) as out:
                shutil.copyfileobj(src, out, 8 << 20)
            written.append(rel)
    if not written:
        raise BackendError(f"{tar_uri} holds no files")
    return sorted(written)
