"""Stage ``validate``: the Great Expectations gate. Rows pass through unchanged when the
suite passes; when it fails, the job exits with code 3 (the DAG stops before publish)
after writing ``validation.json`` and Data Docs next to the run manifest."""

from __future__ import annotations

import posixpath
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import storage
from include.validation.checks import conversation_problem
from include.validation.residual_pii import row_residual_pii
from spark_jobs.common import StageOutput, ValidationFailed, main, read_parquet

DERIVED = ("_problem", "_text_chars", "_pii_hits")


def with_check_columns(df, check_pii: bool):
    """``df`` plus the derived columns the suite validates (computed by the library)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            *df.schema.fields,
            T.StructField("_problem", T.StringType(), True),
            T.StructField("_text_chars", T.LongType(), True),
            T.StructField("_pii_hits", T.StringType(), True),
        ]
    )

    def check(batches):
        for batch in batches:
            rows = batch.to_pylist()
            extra = [
                pa.array([conversation_problem(r) for r in rows], pa.string()),
                pa.array([len(r.get("text") or "") for r in rows], pa.int64()),
                pa.array([row_residual_pii(r) if check_pii else None for r in rows], pa.string()),
            ]
            yield pa.RecordBatch.from_arrays([*batch.columns, *extra], names=[*batch.schema.names, *DERIVED])

    return df.mapInArrow(check, schema)


def run_reject_share(output_uri: str, endpoint: str | None) -> float | None:
    """Rejected / source records of the run so far, from the sibling stages' stats.json."""
    staging = posixpath.dirname(output_uri.rstrip("/"))
    ingest_stats = storage.join(staging, "ingest", "stats.json")
    if not storage.exists(ingest_stats, endpoint):
        return None
    from include.config import STAGES

    records = storage.read_json(ingest_stats, endpoint)["details"]["records"]
    rejected = 0
    for stage in STAGES[: STAGES.index("validate")]:
        p = storage.join(staging, stage, "stats.json")
        if storage.exists(p, endpoint):
            rejected += storage.read_json(p, endpoint).get("rejected") or 0
    return rejected / records if records else 0.0


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from include.validation.gx_runner import load_suite_spec, validate_dataframe

    vcfg = cfg.validate_
    endpoint = cfg.storage.s3_endpoint_url
    df = read_parquet(spark, input_uri, cfg)
    checked = with_check_columns(df, vcfg.check_residual_pii)
    share = run_reject_share(ctx.output_uri, endpoint)
    params = vcfg.model_dump()
    if share is not None:
        checked = checked.withColumn("_reject_share", F.lit(float(share)))
    checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
    spec = load_suite_spec(vcfg.suite, params)
    if share is not None:
        spec["expectations"].append(
            {
                "type": "ExpectColumnMaxToBeBetween",
                "kwargs": {"column": "_reject_share", "max_value": vcfg.max_reject_share},
            }
        )
    staging = posixpath.dirname(ctx.output_uri.rstrip("/"))
    with tempfile.TemporaryDirectory() as docs:
        ok, outcomes = validate_dataframe(checked, spec, docs if vcfg.data_docs else None)
        if vcfg.data_docs:
            _upload_dir(Path(docs), storage.join(staging, "data_docs"), endpoint)
    report = {
        "success": ok,
        "suite": spec["name"],
        "reject_share": share,
        "expectations": [
            {
                "expectation": o.expectation,
                "column": o.column,
                "success": o.success,
                "observed": str(o.observed),
            }
            for o in outcomes
        ],
        "data_docs": storage.join(staging, "data_docs", "index.html") if vcfg.data_docs else None,
    }
    storage.write_json(storage.join(ctx.output_uri, "validation.json"), report, endpoint)
    ctx.details.update(
        success=ok,
        failed=[o.describe() for o in outcomes if not o.success],
        data_docs=report["data_docs"],
        reject_share=share,
    )
    for o in outcomes:
        print(o.describe(), flush=True)
    if not ok:
        failed = [o.describe() for o in outcomes if not o.success]
        raise ValidationFailed(
            f"{len(failed)} of {len(outcomes)} expectations failed:\n  " + "\n  ".join(failed)
        )
    return StageOutput(checked.drop(*DERIVED, "_reject_share"))


def _upload_dir(local: Path, uri: str, endpoint: str | None) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file():
            storage.write_bytes(
                storage.join(uri, path.relative_to(local).as_posix()), path.read_bytes(), endpoint
            )


if __name__ == "__main__":
    sys.exit(main("validate", run))
