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

from spark_jobs.common import (
    DETAIL,
    REASON,
    StageOutput,
    decide,
    kept,
    main,
    read_parquet,
    split_decisions,
    spread,
)

SIGNALS = "signals"


def evaluated(df, fcfg):
    """``df`` with ``flags`` extended, ``signals`` set and the decision columns."""
    from pyspark.sql import types as T

    has_flags = "flags" in df.columns

    def make_decider():
        from include.filters import get_filter_engine

        engine = get_filter_engine(fcfg)  # cached per worker process

        def decide_rows(rows):
            out = []
            for row, d in zip(rows, engine.evaluate_rows(rows), strict=True):
                flags = list(row.get("flags") or []) if has_flags else []
                flags += [f for f in d.flags if f not in flags]
                row = {k: v for k, v in row.items() if k not in ("flags", SIGNALS)}
                signals = json.dumps(d.signals, sort_keys=True) if d.signals else None
                row.update({"flags": flags or None, SIGNALS: signals, REASON: d.reason, DETAIL: d.detail})
                out.append(row)
            return out

        return decide_rows

    fields = [
        T.StructField("flags", T.ArrayType(T.StringType()), True),
        T.StructField(SIGNALS, T.StringType(), True),
    ]
    return decide(df, make_decider, fields)


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark.sql import functions as F

    fcfg = cfg.filters
    df = read_parquet(spark, input_uri, cfg)
    df = spread(df, spark)  # per-row Python work: every core gets rows
    out = evaluated(df, fcfg)
    flagged = kept(out).select(F.explode("flags").alias("flag")).groupBy("flag").count().collect()
    ctx.details["flags"] = {r["flag"]: r["count"] for r in sorted(flagged, key=lambda r: r["flag"])}
    ctx.details["actions"] = {
        "malicious": fcfg.malicious.action,
        "profanity": fcfg.profanity.action,
        "quality": fcfg.quality.action,
    }
    return split_decisions(out, "filters")


if __name__ == "__main__":
    sys.exit(main("filters", run))
