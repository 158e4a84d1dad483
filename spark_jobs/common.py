"""Spark plumbing shared by every stage job: session, per-row decisions, the stage CLI
(schema, Parquet I/O and reject rows are in :mod:`spark_jobs.frames`, re-exported here).

A stage is a function ``(spark, cfg, input_uri, ctx) -> StageOutput``; :func:`main`
turns it into ``python -m spark_jobs.<stage> --input URI --output URI [--config FILE]``
writing ``<output>/curated/``, ``<output>/rejects/`` and ``<output>/stats.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from include import storage
from include.config import ConfigError, PipelineConfig, load_config
from include.run import EXIT_GATE_FAILED
from include.settings import REPO_ROOT
from spark_jobs.frames import (  # noqa: F401  (re-exported: stage jobs import them from here)
    REJECT_FIELDS_ALL,
    _to_arrow_schema,
    as_rejects,
    count_rows,
    empty_rejects,
    parquet_files,
    read_parquet,
    read_parquet_files,
    spark_schema,
    spark_type,
    spread,
    write_parquet,
)
from spark_jobs.progress import StageProgress

log = logging.getLogger("spark_jobs")

# ------------------------------------------------------------------ session


def get_spark(cfg: PipelineConfig, app_name: str):
    """A SparkSession: the one spark-submit configured, else local mode from config."""
    from pyspark.sql import SparkSession

    # Python workers inherit the driver's environment: make include/ and spark_jobs/ importable.
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *[p for p in paths if p]])
    builder = SparkSession.builder.appName(app_name)
    if not launched_by_spark_submit():
        # local mode: Python workers run this interpreter (the venv with the pinned libraries)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.master(cfg.spark.master)
            .config("spark.driver.memory", cfg.spark.driver_memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    builder = builder.config("spark.sql.shuffle.partitions", str(cfg.spark.shuffle_partitions))
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    for k, v in cfg.spark.conf.items():
        builder = builder.config(k, str(v))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def launched_by_spark_submit() -> bool:
    """True when spark-submit started this driver (master and resources come from it)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "SPARK_ENV_LOADED" in os.environ


# ------------------------------------------------------------------ per-row decisions

#: the decision columns ``decide`` adds (dropped from curated rows by ``split_decisions``)
REASON, DETAIL = "_reason", "_detail"


def decide(df, make_decider, fields=()):
    """Per-row keep / reject decisions made in the executors; the rule lives in ``include/``.

    ``make_decider()`` runs once per task in the Python worker (engines inside it are cached
    per process) and returns ``rows -> rows``: each output row carries ``fields`` (Spark
    ``StructField``s, replacing input columns of the same name) and ``REASON`` / ``DETAIL``
    (``REASON`` None keeps the row). The result is persisted: stages read it for stats and
    then split it with :func:`split_decisions`."""
    import pyarrow as pa
    from pyspark import StorageLevel
    from pyspark.sql import types as T

    replaced = {f.name for f in fields}
    base = [f for f in df.schema.fields if f.name not in replaced]
    decision = [T.StructField(c, T.StringType(), True) for c in (REASON, DETAIL)]
    schema = T.StructType([*base, *fields, *decision])
    arrow = _to_arrow_schema(schema)

    def run(batches):
        decide_rows = make_decider()
        for batch in batches:
            yield pa.RecordBatch.from_pylist(decide_rows(batch.to_pylist()), schema=arrow)

    return df.mapInArrow(run, schema).persist(StorageLevel.MEMORY_AND_DISK)


def split_decisions(out, stage: str, drop=()) -> StageOutput:
    """Curated rows (no reason; decision columns and ``drop`` removed) and rejects of ``stage``."""
    from pyspark.sql import functions as F

    curated = kept(out).drop(REASON, DETAIL, *drop)
    rejects = as_rejects(out.where(F.col(REASON).isNotNull()), stage, F.col(REASON), F.col(DETAIL))
    return StageOutput(curated, rejects)


def kept(out):
    """The rows of a :func:`decide` result that stay."""
    from pyspark.sql import functions as F

    return out.where(F.col(REASON).isNull())


# ------------------------------------------------------------------ the stage CLI


class ValidationFailed(RuntimeError):
    """The data failed a gate (e.g. the GX suite); the message lists what failed."""


@dataclass
class StageContext:
    stage: str
    input_uri: str
    output_uri: str
    details: dict = field(default_factory=dict)  # stage-specific numbers for stats.json


@dataclass
class StageOutput:
    curated: object  # DataFrame
    rejects: object | None = None  # DataFrame of reject rows, or None
    note: str | None = None
    # For ingest: source records counted separately from rows (one record may make several rows).
    input_count: int | None = None


StageFn = Callable[[object, PipelineConfig, str, StageContext], StageOutput]


def run_stage(
    stage: str, fn: StageFn, input_uri: str, output_uri: str, cfg: PipelineConfig, spark=None
) -> dict:
    """Run one stage and write curated/, rejects/ and stats.json under ``output_uri``."""
    started = time.time()
    ctx = StageContext(stage, input_uri, output_uri)
    endpoint = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    own_session = spark is None
    spark = spark or get_spark(cfg, f"llmops-{stage}")
    try:
        curated_uri = storage.join(output_uri, "curated")
        rejects_uri = storage.join(output_uri, "rejects")
        # Spark is lazy: the work happens in the writes, so the reporter spans them too
        with StageProgress(spark, stage, None if stage == "ingest" else count_rows(input_uri, cfg)[0]):
            if not cfg.enabled(stage):
                log.warning("stage %s is disabled in config: rows pass through unchanged", stage)
                out = StageOutput(
                    read_parquet(spark, input_uri, cfg), None, note="disabled in config: pass-through"
                )
            else:
                out = fn(spark, cfg, input_uri, ctx)
            write_parquet(out.curated, curated_uri, cfg)
            write_parquet(out.rejects if out.rejects is not None else empty_rejects(spark), rejects_uri, cfg)
        n_out, _ = count_rows(curated_uri, cfg)
        n_rej, reasons = count_rows(rejects_uri, cfg, by="reason")
        n_in = out.input_count if out.input_count is not None else count_rows(input_uri, cfg)[0]
        stats = {
            "stage": stage,
            "enabled": cfg.enabled(stage),
            "note": out.note,
            "input": input_uri,
            "output": output_uri,
            "curated": curated_uri,
            "rejects": rejects_uri,
            "in": n_in,
            "out": n_out,
            "rejected": n_rej,
            "rejected_by_reason": dict(sorted(reasons.items())),
            "details": ctx.details,
            "config_digest": cfg.digest(),
            "config": cfg.to_dict(),  # what publish uses (and checks) for the run
            "seconds": round(time.time() - started, 2),
        }
        if stage != "ingest" and n_in != n_out + n_rej:
            stats["accounting_error"] = f"in={n_in} != out={n_out} + rejected={n_rej}"
        storage.write_json(storage.join(output_uri, "stats.json"), stats, endpoint)
        log.info(
            "stage %s: in=%d out=%d rejected=%d %s (%.1fs)",
            stage,
            n_in,
            n_out,
            n_rej,
            dict(reasons) or "",
            stats["seconds"],
        )
        if "accounting_error" in stats:
            raise RuntimeError(f"stage {stage} lost rows: {stats['accounting_error']}")
        return stats
    finally:
        if own_session:
            spark.stop()


def run_in_process(stage: str, input_uri: str, output_uri: str, cfg: PipelineConfig) -> dict:
    """Run ``spark_jobs.<stage>`` in this process on its Spark session (started on first use:
    master, driver memory and other static settings come from the config of the first stage it
    runs; ``shuffle_partitions`` and runtime SQL settings are applied per stage). Raises
    :class:`include.run.GateFailed` when the stage's gate fails, as the subprocess does."""
    import importlib

    from include.run import GateFailed

    job = importlib.import_module(f"spark_jobs.{stage}")
    spark = get_spark(cfg, "llmops-curation")
    settings = {"spark.sql.shuffle.partitions": cfg.spark.shuffle_partitions, **cfg.spark.conf}
    saved = {k: spark.conf.get(k, None) for k in settings if spark.conf.isModifiable(k)}
    for k in saved:
        spark.conf.set(k, str(settings[k]))
    log.info("stage %s in process (Spark %s, %s)", stage, spark.version, spark.sparkContext.master)
    try:
        return run_stage(stage, job.run, input_uri, output_uri, cfg, spark=spark)
    except ValidationFailed as exc:
        raise GateFailed(str(exc)) from None  # the operator says which stage and that it is not retried
    finally:  # nothing of this stage is left for the next one: its cache, its runtime settings
        spark.catalog.clearCache()
        for k, v in saved.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def main(stage: str, fn: StageFn, argv: list[str] | None = None) -> int:
    """Command-line entry point shared by every ``spark_jobs/<stage>.py``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m spark_jobs.{stage}", description=f"Run the {stage} stage."
    )
    parser.add_argument(
        "--input", required=True, help="input URI (source data for ingest, else a stage's curated/)"
    )
    parser.add_argument(
        "--output", required=True, help="output URI: curated/, rejects/ and stats.json go here"
    )
    parser.add_argument(
        "--config", default=None, help="YAML/JSON file (or inline JSON) deep-merged over the defaults"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        stats = run_stage(stage, fn, args.input, args.output, cfg)
    except ValidationFailed as exc:
        print(f"error: {stage} gate failed: {exc}", file=sys.stderr)
        return EXIT_GATE_FAILED
    print(f"{stage}: in={stats['in']} out={stats['out']} rejected={stats['rejected']} -> {args.output}")
    return 0
