"""Stage ``ingest``: source files (JSON, JSONL, JSONL.gz, Parquet; local or S3) ->
canonical Parquet. One Spark task per file; the conversion is ``include.ingest``."""

from __future__ import annotations

import json
import posixpath
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import storage
from include.formats.base import FormatOptions
from include.ingest import RecordLimits, choose_format, convert_file
from include.lakehouse import resolve_source
from include.schema import canonical_fields
from spark_jobs.common import REJECT_FIELDS_ALL, StageOutput, main, spark_schema

KIND = "_kind"  # row | reject | report (one JSON FileReport per file, in `detail`)


def default_source_name(uri: str) -> str:
    path = uri.rstrip("/").split("://", 1)[-1]
    while any(c in posixpath.basename(path) for c in "*?["):
        path = posixpath.dirname(path)
    name = posixpath.basename(path)
    for ext in (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".parquet"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name or "source"


def native_table_records(spark, table, input_uri: str, configured_format: str):
    """(rel, fmt, records) per data file, read by Spark's own Delta / Iceberg connector at the
    pinned version: each row as JSON, in a deterministic order (line = position)."""
    from pyspark.sql import functions as F

    reader = spark.read.format(table.format)
    try:
        if table.format == "delta":
            df = reader.option("versionAsOf", table.version).load(input_uri)
        else:
            df = reader.option("snapshot-id", table.version).load(table.table)
    except Exception as exc:
        if "DATA_SOURCE_NOT_FOUND" in str(exc) or "Failed to find data source" in str(exc):
            jar = (
                "io.delta:delta-spark"
                if table.format == "delta"
                else "org.apache.iceberg:iceberg-spark-runtime"
            )
            raise RuntimeError(
                f"lakehouse.native_readers is set but this Spark has no '{table.format}' data source: add {jar} "
                "to the cluster (spark.jars) or unset lakehouse.native_readers to read the table's Parquet files"
            ) from None
        raise
    fmt = None if configured_format == "auto" else configured_format
    return (
        df.select(F.input_file_name().alias("_file"), F.to_json(F.struct(*df.columns)).alias("_json"))
        .groupBy("_file")
        .agg(F.array_sort(F.collect_list("_json")).alias("records"))
        .select(F.col("_file").alias("rel"), F.lit(fmt).cast("string").alias("fmt"), "records")
    )


def _file_batches(rel, converted, names, arrow_out):
    """Arrow batches (4096 rows at most) of one file's rows, rejects and report, tagged in KIND."""
    import pyarrow as pa

    rows, rejects, report = converted
    for kind, items in (
        ("row", rows),
        ("reject", rejects),
        ("report", [{"source_file": rel, "detail": json.dumps(report.to_dict())}]),
    ):
        for start in range(0, len(items), 4096):
            chunk = items[start : start + 4096]
            cols = {n: [r.get(n) for r in chunk] for n in names}
            cols[KIND] = [kind] * len(chunk)
            yield pa.RecordBatch.from_pydict(cols, schema=arrow_out)


def _convert_native(settings, arrow_out, names):
    from include.formats.reader import check_value
    from include.ingest import convert_records

    depth = settings["limits"].max_json_depth

    def convert(batches):
        for batch in batches:
            for rel, fmt, recs in zip(
                *(batch.column(c).to_pylist() for c in ("rel", "fmt", "records")), strict=True
            ):
                records = [(i, json.loads(r)) for i, r in enumerate(recs, start=1)]
                records = [(i, check_value(r, depth) or r) for i, r in records]
                converted = convert_records(records, rel, fmt=fmt, **settings)
                yield from _file_batches(rel, converted, names, arrow_out)

    return convert


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    ing = cfg.ingest
    endpoint = storage.endpoint_url(cfg.storage.s3_endpoint_url)  # resolved here: executors get the same
    files, table = resolve_source(input_uri, cfg.lakehouse, ing.extensions, endpoint)
    partitions = table.partition_values if table else {}
    source = ing.source_name or default_source_name(input_uri)
    settings = {  # how both conversion paths convert a file
        "source": source,
        "options": FormatOptions(
            oasst_paths=ing.oasst_paths,
            preference_pairs=ing.preference_pairs,
            oasst_skip_review_failed=ing.oasst_skip_review_failed,
        ),
        "detect_sample": ing.detect_sample,
        "max_raw_chars": ing.max_raw_chars,
        "limits": RecordLimits.from_config(ing),
    }
    tasks = [
        (
            f.uri,
            f.relative,
            choose_format(f.relative, ing.format, ing.formats),
            json.dumps(partitions[f.relative]) if partitions.get(f.relative) else None,
        )
        for f in files
    ]
    # rows, rejects and reports share one all-nullable schema; the split below restores the real ones
    out_schema = T.StructType(
        [
            *(T.StructField(f.name, f.dataType, True) for f in spark_schema(REJECT_FIELDS_ALL).fields),
            T.StructField(KIND, T.StringType(), False),
        ]
    )
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_out = to_arrow_schema(out_schema)
    names = [f.name for f in REJECT_FIELDS_ALL]

    def convert(batches):
        for batch in batches:
            cols = (batch.column(c).to_pylist() for c in ("uri", "rel", "fmt", "parts"))
            for uri, rel, fmt, parts in zip(*cols, strict=True):
                extra = json.loads(parts or "{}")
                converted = convert_file(
                    uri, rel, fmt=fmt, extra_fields=extra, s3_endpoint=endpoint, **settings
                )
                yield from _file_batches(rel, converted, names, arrow_out)

    if table is not None and cfg.lakehouse.native_readers:
        both = native_table_records(spark, table, input_uri, ing.format).mapInArrow(
            _convert_native(settings, arrow_out, names), out_schema
        )
    else:
        listing = spark.createDataFrame(
            tasks, "uri string, rel string, fmt string, parts string"
        ).repartition(max(1, len(tasks)))
        both = listing.mapInArrow(convert, out_schema)
    both = both.persist(StorageLevel.MEMORY_AND_DISK)

    reports = {
        r["source_file"]: json.loads(r["detail"])
        for r in both.filter(F.col(KIND) == "report").select("source_file", "detail").collect()
    }
    ctx.details["source"] = source
    ctx.details["table"] = table.to_dict() if table else None
    if table is not None and cfg.lakehouse.native_readers:  # Spark's connector chose the files
        files = [storage.FileInfo(rel, rel, None, None) for rel in sorted(reports)]
    ctx.details["files"] = [
        {
            "uri": f.uri,
            "relative": f.relative,
            "size": f.size,
            "mtime": f.mtime,
            "table_version": table.version if table else None,
            **{
                k: reports[f.relative][k]
                for k in ("format", "records", "converted", "rejected", "rows", "rejected_by_reason")
            },
        }
        for f in files
    ]
    records = sum(f["records"] for f in ctx.details["files"])
    ctx.details["records"] = records
    ctx.details["converted"] = sum(f["converted"] for f in ctx.details["files"])
    curated = both.filter(F.col(KIND) == "row").select(*[f.name for f in canonical_fields(False)])
    rejects = both.filter(F.col(KIND) == "reject").drop(KIND)
    return StageOutput(curated, rejects, input_count=records)


if __name__ == "__main__":
    sys.exit(main("ingest", run))
