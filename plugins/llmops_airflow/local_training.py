"""The ``local`` backend's launch: the training entry point in a subprocess of the worker.

Every line the trainer prints goes to the task log as it comes (live progress). Remote backends
are launched by their own operator tasks (``llmops_airflow.launchers``), never here.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable

from include.settings import REPO_ROOT
from include.training.backends import ENTRY_MODULE, BackendError
from llmops_airflow.finetune_defaults import TRAIN_OPERATORS, TRAIN_TASK_IDS

log = logging.getLogger(__name__)


def training_command(config_uri: str, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", ENTRY_MODULE, "--config", config_uri]


class LocalTraining:
    """Runs ``python -m include.training.train --config URI`` and streams its output."""

    name = "local"

    def __init__(self, python: str | None = None, timeout_s: float | None = None):
        self.python = python
        self.timeout_s = timeout_s

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


def in_process_launcher(backend: str) -> LocalTraining:
    """The launcher for ``backend`` when the run trains on this worker; remote backends have none."""
    if backend == LocalTraining.name:
        return LocalTraining()
    raise BackendError(
        f"backend {backend!r} is launched by the finetune_adapter DAG's {TRAIN_TASK_IDS[backend]} task "
        f"({TRAIN_OPERATORS[backend]}), not in-process"
    )
