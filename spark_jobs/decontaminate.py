"""Stage ``decontaminate``: rows overlapping an evaluation benchmark go to rejects.

The benchmark n-gram index is built once on the driver (the only thing there) and
broadcast; each executor hashes its rows' n-grams and looks them up in Arrow batches
(``include.decontam``). Rejects: ``reason=contamination``, ``detail`` = benchmark, item
id and overlap. Stats and manifest lineage: per benchmark its file's sha256 and counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import storage
from include.decontam.benchmarks import build_index
from include.decontam.match import find_contamination
from include.normalize import NormalizeOptions
from spark_jobs.common import DETAIL as DETAIL_COL
from spark_jobs.common import REASON as REASON_COL
from spark_jobs.common import StageOutput, main, read_parquet, split_decisions, spread

REASON = "contamination"


def with_matches(df, index_bc, norm: NormalizeOptions):
    """``df`` plus the decision columns of :func:`spark_jobs.common.decide` (reason, detail; null:
    clean) and the matched benchmark (``_bench``), appended to each Arrow batch in one pass (no
    join back to the input, no row-by-row conversion)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    out_schema = T.StructType(
        [*df.schema.fields, *(T.StructField(c, T.StringType()) for c in ("_bench", REASON_COL, DETAIL_COL))]
    )

    def look_up(batches):
        index = index_bc.value
        for batch in batches:
            found = find_contamination(batch.column("text").to_pylist(), index, norm)
            added = {
                "_bench": [m.benchmark if m else None for m in found],
                REASON_COL: [REASON if m else None for m in found],
                DETAIL_COL: [m.detail if m else None for m in found],
            }
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *(pa.array(v, pa.string()) for v in added.values())],
                names=[*batch.schema.names, *added],
            )

    return df.mapInArrow(look_up, out_schema)


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    dc = cfg.decontaminate
    df = read_parquet(spark, input_uri, cfg)
    if not dc.benchmarks:
        ctx.details["benchmarks"] = []
        return StageOutput(df, None, note="no benchmarks configured: pass-through")
    norm = NormalizeOptions.from_config(cfg.normalize)
    index = build_index(dc, norm, storage.endpoint_url(cfg.storage.s3_endpoint_url))
    bc = spark.sparkContext.broadcast(index)
    # per-row Python work: every core gets rows
    marked = with_matches(spread(df, spark), bc, norm).persist(StorageLevel.MEMORY_AND_DISK)
    hit = marked.where(F.col("_bench").isNotNull())
    per_bench = dict(hit.groupBy("_bench").count().collect())
    rule = {"ngram", "min_overlap", "short_ngram", "short_min_overlap", "max_item_frequency"}
    ctx.details.update(
        **dc.model_dump(include=rule),
        index_ngrams=index.size,
        boilerplate_ngrams_ignored=index.boilerplate,
        benchmarks=[{**b, "rows_rejected": int(per_bench.get(b["name"], 0))} for b in index.lineage],
    )
    return split_decisions(marked, "decontaminate", drop=("_bench",))


if __name__ == "__main__":
    sys.exit(main("decontaminate", run))
