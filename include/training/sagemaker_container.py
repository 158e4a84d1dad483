"""Inside a SageMaker training container (``<entrypoint> train``): the run's config from the
``config`` channel, data from ``train`` (and ``tokenized`` when the job has it), the model to
``/opt/ml/model``, a failure to the file SageMaker shows as the job's FailureReason."""

from __future__ import annotations

import json
import sys

from include.config import ConfigError
from include.config.training import TrainingConfig, load_training_config
from include.training.train import EXIT_CONFIG_ERROR, EXIT_FAILED, load_config_file, run


def sagemaker_config(root: str | None = None) -> TrainingConfig:
    """The config inside a SageMaker training container: the ``config`` channel's JSON, trained on the
    ``train`` channel, written to ``/opt/ml/model``, checkpoints in ``/opt/ml/checkpoints`` with spot
    (the ``tokenized`` channel, when the job has one, is read by :func:`sagemaker_main`)."""
    from include.training.backends.sagemaker import container_paths

    paths = container_paths(root)
    files = sorted(paths["config_dir"].glob("*.json")) if paths["config_dir"].is_dir() else []
    if not files:
        raise ConfigError(f"no training config in the SageMaker 'config' channel ({paths['config_dir']})")
    cfg = load_training_config(load_config_file(str(files[0])))
    hp = json.loads(paths["hyperparameters"].read_text()) if paths["hyperparameters"].exists() else {}
    if hp.get("config_hash") and hp["config_hash"] != cfg.digest():
        raise ConfigError(
            f"config channel {files[0].name} has hash {cfg.digest()} but the job's hyperparameters "
            f"say {hp['config_hash']}: the job was started with another config"
        )
    train = cfg.train
    if str(hp.get("checkpoints", "")).lower() == "true":
        train = train.model_copy(update={"checkpoint_dir": str(paths["checkpoints"])})
    return cfg.model_copy(
        update={"dataset_uri": str(paths["train"]), "output_uri": str(paths["model"]), "train": train}
    )


def sagemaker_main(root: str | None = None) -> int:
    from include.training.backends.sagemaker import container_paths

    tokenized = container_paths(root)["tokenized"]
    try:
        run(sagemaker_config(root), tokenized_uri=str(tokenized) if tokenized.is_dir() else None)
    except Exception as exc:
        failure = container_paths(root)["failure"]  # SageMaker shows this file as the job's FailureReason
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(f"{type(exc).__name__}: {exc}"[:1000])
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR if isinstance(exc, ConfigError) else EXIT_FAILED
    return 0
