"""Stage ``filters``: domain rules, malicious content, inappropriate language, heuristic quality
(see ``include.filters``). Every drop goes to rejects with a reason code and detail; ``flag``
actions append to ``flags``; quality signals are written as JSON to ``signals``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_jobs.common import StageOutput, as_rejects, main, read_parquet, spread

REASON, DETAIL = "_filter_reason", "_filter_detail"
SIGNALS = "signals"


def evaluated(df, fcfg):
    """``df`` with ``flags`` extended, ``signals`` set and the decision's reason/detail columns."""
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    base = [f for f in df.schema.fields if f.name not in ("flags", SIGNALS)]
    schema = T.StructType(
        [
            *base,
            T.StructField("flags", T.ArrayType(T.StringType()), True),
            T.StructField(SIGNALS, T.StringType(), True),
            T.StructField(REASON, T.StringType(), True),
            T.StructField(DETAIL, T.StringType(), True),
        ]
    )
    arrow = to_arrow_schema(schema)
    has_flags = "flags" in df.columns

    def evaluate(batches):
        from include.filters import get_filter_engine

        engine = get_filter_engine(fcfg)  # cached per worker process
        for batch in batches:
            rows = batch.to_pylist()
            out = []
            for row, d in zip(rows, engine.evaluate_rows(rows), strict=True):
                flags = list(row.get("flags") or []) if has_flags else []
                flags += [f for f in d.flags if f not in flags]
                row = {k: v for k, v in row.items() if k not in ("flags", SIGNALS)}
                row.update(
                    {
                        "flags": flags or None,
                        SIGNALS: json.dumps(d.signals, sort_keys=True) if d.signals else None,
                        REASON: d.reason,
                        DETAIL: d.detail,
                    }
                )
                out.append(row)
            yield pa.RecordBatch.from_pylist(out, schema=arrow)

    return df.mapInArrow(evaluate, schema)


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    fcfg = cfg.filters
    df = read_parquet(spark, input_uri, cfg)
    df = spread(df, spark)  # per-row Python work: every core gets rows
    out = evaluated(df, fcfg).persist(StorageLevel.MEMORY_AND_DISK)
    kept = out.where(F.col(REASON).isNull())
    flagged = kept.select(F.explode("flags").alias("flag")).groupBy("flag").count().collect()
    ctx.details["flags"] = {
        r["flag"]: r["count"] for r in sorted(flagged, key=lambda r: r["flag"])
    }  # curated rows
    ctx.details["actions"] = {
        "malicious": fcfg.malicious.action,
        "profanity": fcfg.profanity.action,
        "quality": fcfg.quality.action,
    }
    curated = kept.drop(REASON, DETAIL)
    rejects = as_rejects(out.where(F.col(REASON).isNotNull()), "filters", F.col(REASON), F.col(DETAIL))
    return StageOutput(curated, rejects)


if __name__ == "__main__":
    sys.exit(main("filters", run))
