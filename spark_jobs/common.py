"""Spark plumbing shared by every stage job: session, schema, I/O, the stage CLI.

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
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from include import storage
from include.config import ConfigError, PipelineConfig, load_config
from include.schema import Field, canonical_fields, reject_fields

log = logging.getLogger("spark_jobs")
REPO_ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ schema


def spark_type(f: Field):
    from pyspark.sql import types as T

    scalars = {
        "string": T.StringType(),
        "int64": T.LongType(),
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
    }
    if f.type == "list":
        return T.ArrayType(spark_type(f.item), True)
    if f.type == "struct":
        return T.StructType([T.StructField(m.name, spark_type(m), m.nullable) for m in f.fields])
    return scalars[f.type]


def spark_schema(fields: tuple[Field, ...] | None = None):
    """Spark StructType of the canonical record (or of any field tuple), from include.schema."""
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(f.name, spark_type(f), f.nullable) for f in (fields or canonical_fields())]
    )


REJECT_FIELDS_ALL = reject_fields()

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


# ------------------------------------------------------------------ I/O


def _spark_uri(uri: str) -> str:
    return "s3a://" + uri.split("://", 1)[1] if storage.is_s3(uri) else storage.local_path(uri)


def _native(uri: str, cfg: PipelineConfig) -> bool:
    return storage.is_local(uri) or cfg.storage.native_spark_io


def parquet_files(uri: str, cfg: PipelineConfig) -> list[storage.FileInfo]:
    try:
        return storage.list_files(uri, (".parquet",), cfg.storage.s3_endpoint_url)
    except FileNotFoundError:
        return []


def spread(df, spark):
    """``df`` round-robin over at least one partition per core, for stages whose cost is
    per-row Python work (NER, embeddings, judge calls). Partition *counts* are not enough:
    a Parquet file with one row group read as two splits leaves every row in one of them."""
    return df.repartition(max(df.rdd.getNumPartitions(), spark.sparkContext.defaultParallelism))


def read_parquet(spark, uri: str, cfg: PipelineConfig, schema=None):
    """A stage's canonical input: Spark's reader locally, pyarrow in executors for S3."""
    if _native(uri, cfg):
        reader = spark.read.schema(schema) if schema is not None else spark.read
        return reader.parquet(_spark_uri(uri))
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    files = parquet_files(uri, cfg)
    if not files:
        raise FileNotFoundError(f"no Parquet files under {uri}")
    if schema is None:
        fs, path = storage.filesystem(files[0].uri, storage.endpoint_url(cfg.storage.s3_endpoint_url))
        with fs.open_input_file(path) as f:
            schema = from_arrow_schema(pq.read_schema(f))
    return read_parquet_files(spark, [f.uri for f in files], cfg, schema)


def read_parquet_files(spark, uris: list[str], cfg: PipelineConfig, schema):
    """These Parquet files as one DataFrame of ``schema``: Spark's reader locally, pyarrow in
    executors for S3."""
    if _native(uris[0], cfg):
        return spark.read.schema(schema).parquet(*[_spark_uri(u) for u in uris])
    import pyarrow.parquet as pq

    endpoint = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    arrow_target = _to_arrow_schema(schema)

    def read_files(batches):
        for batch in batches:
            for file_uri in batch.column("uri").to_pylist():
                fs, path = storage.filesystem(file_uri, endpoint)
                with fs.open_input_file(path) as f:
                    table = pq.read_table(f)
                yield from table.select(arrow_target.names).cast(arrow_target).to_batches()

    listing = spark.createDataFrame([(u,) for u in uris], "uri string").repartition(max(1, len(uris)))
    return listing.mapInArrow(read_files, schema)


def _to_arrow_schema(spark_struct):
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_struct)


def write_parquet(df, uri: str, cfg: PipelineConfig) -> None:
    """Overwrite ``uri`` with ``df`` as Parquet (pyarrow part files on S3, no jars needed)."""
    if _native(uri, cfg):
        df.write.mode("overwrite").parquet(_spark_uri(uri))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    endpoint = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    storage.delete_dir(uri, endpoint)
    token = uuid.uuid4().hex[:8]
    arrow_schema = _to_arrow_schema(df.schema)

    def write_part(batches):
        part = TaskContext.get().partitionId()
        target = storage.join(uri, f"part-{part:05d}-{token}.parquet")
        fs, path = storage.filesystem(target, endpoint)
        rows, writer = 0, None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = pq.ParquetWriter(fs.open_output_stream(path), arrow_schema)
            writer.write_batch(batch.cast(arrow_schema) if batch.schema != arrow_schema else batch)
            rows += batch.num_rows
        if writer is not None:
            writer.close()
        yield pa.RecordBatch.from_pylist([{"rows": rows}], schema=pa.schema([("rows", pa.int64())]))

    written = df.mapInArrow(write_part, "rows long").agg({"rows": "sum"}).collect()[0][0] or 0
    if written == 0:  # keep the schema readable even when the stage emptied the dataset
        fs, path = storage.filesystem(storage.join(uri, f"part-00000-{token}.parquet"), endpoint)
        with fs.open_output_stream(path) as out:
            pq.write_table(arrow_schema.empty_table(), out)
    storage.write_bytes(storage.join(uri, "_SUCCESS"), b"", endpoint)


def count_rows(uri: str, cfg: PipelineConfig, by: str | None = None) -> tuple[int, Counter]:
    """Row count of a written Parquet folder (from file metadata), optionally by a column."""
    import pyarrow.parquet as pq

    total, counts = 0, Counter()
    for f in parquet_files(uri, cfg):
        fs, path = storage.filesystem(f.uri, cfg.storage.s3_endpoint_url)
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            total += pf.metadata.num_rows
            if by and pf.metadata.num_rows:
                counts.update(pf.read(columns=[by]).column(by).to_pylist())
    return total, counts


def empty_rejects(spark):
    return spark.createDataFrame([], spark_schema(REJECT_FIELDS_ALL))


def as_rejects(df, stage: str, reason_col, detail_col=None, dup_of_col=None, cluster_col=None):
    """Shape rejected canonical rows as reject rows (every reject column present)."""
    from pyspark.sql import functions as F

    extra = {
        "stage": F.lit(stage),
        "reason": reason_col,
        "detail": detail_col if detail_col is not None else F.lit(None).cast("string"),
        "dup_of": dup_of_col if dup_of_col is not None else F.lit(None).cast("string"),
        "cluster_id": cluster_col if cluster_col is not None else F.lit(None).cast("string"),
        "raw": F.lit(None).cast("string"),
    }
    cols = []
    for f in REJECT_FIELDS_ALL:
        if f.name in extra:
            cols.append(extra[f.name].alias(f.name))
        elif f.name in df.columns:
            cols.append(F.col(f.name))
        else:
            cols.append(F.lit(None).cast(spark_type(f)).alias(f.name))
    return df.select(*cols)


# ------------------------------------------------------------------ the stage CLI

#: exit code of a stage whose data failed a gate (not retried: the data, not the run, is wrong)
EXIT_GATE_FAILED = 3


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
    implemented: bool = True
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
        if not cfg.enabled(stage):
            log.warning("stage %s is disabled in config: rows pass through unchanged", stage)
            out = StageOutput(
                read_parquet(spark, input_uri, cfg), None, note="disabled in config: pass-through"
            )
        else:
            out = fn(spark, cfg, input_uri, ctx)
        curated_uri = storage.join(output_uri, "curated")
        rejects_uri = storage.join(output_uri, "rejects")
        write_parquet(out.curated, curated_uri, cfg)
        write_parquet(out.rejects if out.rejects is not None else empty_rejects(spark), rejects_uri, cfg)
        n_out, _ = count_rows(curated_uri, cfg)
        n_rej, reasons = count_rows(rejects_uri, cfg, by="reason")
        n_in = out.input_count if out.input_count is not None else count_rows(input_uri, cfg)[0]
        stats = {
            "stage": stage,
            "enabled": cfg.enabled(stage),
            "implemented": out.implemented,
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
