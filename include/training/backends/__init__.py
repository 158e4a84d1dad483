"""Where the training entry point runs: each backend's validation (and, in its module, its launch spec).

Every backend runs the same entry point, ``python -m include.training.train --config URI``
(:data:`ENTRY_MODULE`, the training image's ENTRYPOINT), with a config whose ``dataset_uri`` is
the training data and ``output_uri`` the run's model folder:

* ``local``: a subprocess of the worker (its CPU or GPU), launched by the DAG's ``train`` task
  (``llmops_airflow.local_training``);
* ``kubernetes``: a GPU pod (:mod:`.kubernetes` renders the pod; the DAG's ``train_kubernetes``
  task is a ``KubernetesPodOperator`` built by ``llmops_airflow.launchers``);
* ``sagemaker``: a SageMaker training job (:mod:`.sagemaker` renders ``create_training_job``;
  the DAG's ``train_sagemaker`` task is a ``SageMakerTrainingOperator``).

``validate`` runs in the DAG's ``plan`` task: a backend that cannot run fails there, before
anything is built or launched. Launching is the plugin's job (operators, the local subprocess).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

#: the module every backend runs (``python -m include.training.train``)
ENTRY_MODULE = "include.training.train"


class BackendError(RuntimeError):
    """The backend cannot run (not implemented, misconfigured) or the training process failed."""


class TrainingBackend(Protocol):
    name: str

    def validate(self, cfg) -> None:
        """Raise BackendError if ``cfg`` cannot run here (checked by ``plan``, before any work)."""


class LocalBackend:
    """A subprocess of the worker: runs anywhere, nothing to check up front."""

    name = "local"

    def validate(self, cfg) -> None:
        return None


class RemoteBackend:
    """A backend launched by an Airflow operator; validated by ``include.training.backends.<name>.validate``."""

    def __init__(self, name: str):
        self.name = name

    def validate(self, cfg) -> None:
        importlib.import_module(f"include.training.backends.{self.name}").validate(cfg)


#: backend name (``include.config.training.BACKENDS``) -> a factory of its :class:`TrainingBackend`
BACKEND_FACTORIES: dict[str, Callable[[], TrainingBackend]] = {
    "local": LocalBackend,
    "kubernetes": lambda: RemoteBackend("kubernetes"),
    "sagemaker": lambda: RemoteBackend("sagemaker"),
}


def require_remote_uris(cfg, backend: str) -> None:
    """Remote training reads the data and writes the model over S3: worker-local paths cannot work."""
    from include import storage

    bad = [
        f"{key}={value!r}"
        for key, value in (("dataset_uri", cfg.dataset_uri), ("output_uri", cfg.output_uri))
        if value and not storage.is_s3(value)
    ]
    if bad:
        raise BackendError(
            f"backend {backend!r} needs s3:// URIs the {backend} side can read and write: "
            f"{', '.join(bad)} (set the dataset_uri and work_uri Params to s3://...)"
        )


def get_backend(name: str) -> TrainingBackend:
    try:
        return BACKEND_FACTORIES[name]()
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; backends: {', '.join(BACKEND_FACTORIES)}") from None
