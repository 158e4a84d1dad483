"""Running a curation stage on a cluster: ``spark-submit`` through the Spark provider's
``SparkSubmitHook`` (what ``SparkSubmitOperator`` uses) with the code shipped as ``--py-files``."""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

from include.config import PipelineConfig
from include.run import stage_command
from include.settings import REPO_ROOT


def submit_stage(
    stage: str, cfg: PipelineConfig, input_uri: str, output_uri: str, secrets: dict[str, str]
) -> None:
    """spark-submit ``spark_jobs/<stage>.py`` to ``cfg.spark.conn_id``'s master; ``secrets`` go to
    the driver's environment only."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    args = stage_command(stage, input_uri, output_uri, cfg, "python")[3:]
    with tempfile.TemporaryDirectory() as tmp:
        hook = SparkSubmitHook(
            conn_id=cfg.spark.conn_id,
            name=f"llmops-{stage}",
            py_files=build_code_zip(Path(tmp)),
            conf={k: str(v) for k, v in cfg.spark.conf.items()},
            driver_memory=cfg.spark.driver_memory,
            application_args=args,
        )
        hook.submit(str(REPO_ROOT / "spark_jobs" / f"{stage}.py"), env=spark_submit_env(cfg, secrets))


def spark_submit_env(cfg: PipelineConfig, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of ``spark-submit``: the pinned pyspark's ``bin/`` first on ``PATH`` (the
    hook runs whatever ``spark-submit`` ``PATH`` finds; a worker started from ``.venv/bin/``
    has none), and this worker's Python as the executors' Python unless the config or the
    environment names one (``spark.pyspark.python`` / ``PYSPARK_PYTHON``)."""
    import importlib.util

    env = dict(os.environ)
    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.submodule_search_locations:
        spark_bin = Path(next(iter(spec.submodule_search_locations))) / "bin"
        env["PATH"] = os.pathsep.join(filter(None, [str(spark_bin), env.get("PATH")]))
    if "spark.pyspark.python" not in cfg.spark.conf:
        env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.update(extra or {})
    return env


def build_code_zip(folder: Path) -> str:
    """``include/`` and ``spark_jobs/`` as a zip for spark-submit ``--py-files``: the code and its
    package data (name lists, detector weights, templates), which executors read with
    ``importlib.resources`` from inside the zip."""
    target = folder / "llmops_code.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for pkg in ("include", "spark_jobs"):
            for path in sorted((REPO_ROOT / pkg).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    zf.write(path, path.relative_to(REPO_ROOT).as_posix())
    return str(target)
