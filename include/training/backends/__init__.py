"""Where the training entry point runs: a pluggable backend interface.

Every backend runs the same entry point, ``python -m include.training.train --config URI``
(the training image's ENTRYPOINT), with a config whose ``dataset_uri`` is the training data
and ``output_uri`` the run's model folder:

* ``local``: a subprocess of the worker (its CPU or GPU), each output line streamed into the
  task log (:class:`LocalBackend`, launched by the DAG's ``train`` task);
* ``kubernetes``: a GPU pod (:mod:`.kubernetes` renders the pod pieces; the DAG's
  ``train_kubernetes`` task is a ``KubernetesPodOperator`` built by ``llmops_airflow.launchers``);
* ``sagemaker``: a SageMaker training job (:mod:`.sagemaker` renders ``create_training_job``;
  the DAG's ``train_sagemaker`` task is a ``SageMakerTrainingOperator``).

``validate`` runs in the DAG's ``plan`` task: a backend that cannot run fails there, before
anything is built or launched. Remote backends are launched by Airflow operators, so their
``launch`` here only says so.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Protocol

from include.settings import REPO_ROOT

log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """The backend cannot run (not implemented, misconfigured) or the training process failed."""


class TrainingBackend(Protocol):
    name: str

    def validate(self, cfg) -> None:
        """Raise BackendError if ``cfg`` cannot run here (checked by ``plan``, before any work)."""

    def launch(self, cfg, config_uri: str, on_line: Callable[[str], None] | None = None) -> dict:
        """Run the entry point for ``config_uri``; return facts about the run (exit code, seconds...)."""


def training_command(config_uri: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "include.training.train", "--config", config_uri]


class LocalBackend:
    """Subprocess of the worker; live progress: every line the trainer prints goes to the log."""

    name = "local"

    def __init__(self, python: str | None = None, timeout_s: float | None = None):
        self.python = python
        self.timeout_s = timeout_s

    def validate(self, cfg) -> None:
        return None

    def environment(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            dict.fromkeys(filter(None, [str(REPO_ROOT), *env.get("PYTHONPATH", "").split(os.pathsep)]))
        )
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def launch(
        self,
        cfg,
        config_uri: str,
        on_line: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> dict:
        """``env``: extra variables for the subprocess (e.g. the registry connection's S3 settings)."""
        cmd = training_command(config_uri, self.python)
        emit = on_line or (lambda line: log.info("%s", line))
        started = time.time()
        emit(f"running: {' '.join(cmd)}")
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env={**self.environment(), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            line = line.rstrip()
            emit(line)
            tail = (tail + [line])[-40:]
            if self.timeout_s and time.time() - started > self.timeout_s:
                proc.kill()
                raise BackendError(f"training exceeded {self.timeout_s:.0f}s; killed")
        rc = proc.wait()
        seconds = round(time.time() - started, 1)
        if rc != 0:
            raise BackendError(
                f"training process failed with exit code {rc} after {seconds}s; last output:\n"
                + "\n".join(tail)
            )
        return {"backend": self.name, "exit_code": rc, "seconds": seconds, "command": cmd}


class DagTaskBackend:
    """A backend launched by one of the finetune_adapter DAG's own tasks (an Airflow operator),
    not in-process; ``plan`` validates it with ``include.training.backends.<name>.validate``."""

    def __init__(self, name: str, task_id: str, operator: str):
        self.name, self.task_id, self.operator = name, task_id, operator

    def validate(self, cfg) -> None:
        import importlib

        importlib.import_module(f"include.training.backends.{self.name}").validate(cfg)

    def launch(self, cfg, config_uri: str, on_line=None) -> dict:
        raise BackendError(
            f"backend {self.name!r} is launched by the finetune_adapter DAG's {self.task_id} task "
            f"({self.operator}), not in-process"
        )


BACKENDS: dict[str, Callable[[], TrainingBackend]] = {
    "local": LocalBackend,
    "kubernetes": lambda: DagTaskBackend("kubernetes", "train_kubernetes", "KubernetesPodOperator"),
    "sagemaker": lambda: DagTaskBackend("sagemaker", "train_sagemaker", "SageMakerTrainingOperator"),
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
        return BACKENDS[name]()
    except KeyError:
        raise BackendError(f"unknown backend {name!r}; backends: {', '.join(BACKENDS)}") from None
