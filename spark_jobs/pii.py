"""Stage ``pii``: Presidio scrubbing of every text field (see ``include.pii``).

Executors build the analyzer once per Python worker (``include.pii.engine.get_engine``,
reused by every task the worker runs) and scrub Arrow batches with batched ``nlp.pipe``
analysis. Adds ``pii`` (JSON entity counts). Rows whose analysis raises go to rejects with
``pii_error`` (text withheld); rows over the density policy with ``pii_density`` (scrubbed).
``stats.json`` details: entities found per type, rows with PII, the operators used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.pii.operators import resolve_key
from spark_jobs.common import StageOutput, as_rejects, main, read_parquet, spread

REASON, DETAIL = "_pii_reason", "_pii_detail"


def scrubbed(df, pcfg, key: bytes | None):
    """``df`` with every text field scrubbed, ``pii`` set and the policy's reason/detail columns."""
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    base = [f for f in df.schema.fields if f.name != "pii"]
    schema = T.StructType(
        [
            *base,
            T.StructField("pii", T.StringType(), True),
            T.StructField(REASON, T.StringType(), True),
            T.StructField(DETAIL, T.StringType(), True),
        ]
    )
    arrow = to_arrow_schema(schema)
    cols = [f.name for f in base]

    def scrub(batches):
        from include.pii.scrub import Scrubber

        scrubber = Scrubber(pcfg, key)  # the engine inside is cached per worker process
        for batch in batches:
            rows = batch.select(cols).to_pylist()
            out = []
            for o in scrubber.scrub_rows(rows):
                row = dict(o.row)
                row["pii"] = json.dumps(o.counts, sort_keys=True) if o.reason != "pii_error" else None
                row[REASON], row[DETAIL] = o.reason, o.detail
                out.append(row)
            yield pa.RecordBatch.from_pylist(out, schema=arrow)

    return df.select(*cols).mapInArrow(scrub, schema)


def entity_stats(df) -> dict:
    """Entities per type over all analysed rows, and how many rows had any."""
    from pyspark.sql import functions as F

    counts = F.from_json("pii", "map<string,long>")
    per_type = (
        df.where(F.col("pii").isNotNull())
        .select(F.explode(counts).alias("entity", "n"))
        .groupBy("entity")
        .agg(F.sum("n").alias("n"))
        .collect()
    )
    with_pii = df.where(F.col("pii").isNotNull() & (F.col("pii") != "{}")).count()
    return {
        "entities": {r["entity"]: int(r["n"]) for r in sorted(per_type, key=lambda r: r["entity"])},
        "rows_with_pii": with_pii,
    }


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    pcfg = cfg.pii
    key = resolve_key(pcfg)  # fails here, before any work, when pseudonyms need a missing key
    df = read_parquet(spark, input_uri, cfg)
    df = spread(df, spark)  # per-row Python work: every core gets rows
    out = scrubbed(df, pcfg, key).persist(StorageLevel.MEMORY_AND_DISK)
    ctx.details.update(entity_stats(out))
    ctx.details["operators"] = {k: v.type for k, v in sorted(pcfg.operators.items())}
    ctx.details["policy"] = {"max_entities": pcfg.max_entities, "max_pii_share": pcfg.max_pii_share}
    curated = out.where(F.col(REASON).isNull()).drop(REASON, DETAIL)
    rejects = as_rejects(out.where(F.col(REASON).isNotNull()), "pii", F.col(REASON), F.col(DETAIL))
    return StageOutput(curated, rejects)


if __name__ == "__main__":
    sys.exit(main("pii", run))
