"""Stage ``pii``: Presidio scrubbing of every text field (see ``include.pii``).

Executors build the analyzer once per Python worker (``include.pii.engine.get_engine``,
reused by every task the worker runs) and scrub Arrow batches with batched ``nlp.pipe``
analysis. Adds ``pii`` (JSON entity counts). Rows whose analysis raises go to rejects with
``pii_error`` (text withheld); rows over the density policy with ``pii_density`` (scrubbed);
when ``validate.check_residual_pii`` is on, rows its pattern still matches after scrubbing with
``pii_residual`` (scrubbed), so one such row is rejected here instead of failing the gate.
``stats.json`` details: entities found per type, rows with PII, the operators used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.pii.operators import resolve_key
from spark_jobs.common import DETAIL, REASON, StageOutput, decide, main, read_parquet, split_decisions, spread


def scrubbed(df, pcfg, key: bytes | None, reject_residual: bool = False):
    """``df`` with every text field scrubbed, ``pii`` set and the policy's decision columns."""
    from pyspark.sql import types as T

    def make_decider():
        from include.pii.scrub import Scrubber

        scrubber = Scrubber(pcfg, key, reject_residual=reject_residual)  # engine cached per worker

        def decide_rows(rows):
            out = []
            for o in scrubber.scrub_rows(rows):
                row = dict(o.row)
                row["pii"] = json.dumps(o.counts, sort_keys=True) if o.reason != "pii_error" else None
                row[REASON], row[DETAIL] = o.reason, o.detail
                out.append(row)
            return out

        return decide_rows

    return decide(df.drop("pii"), make_decider, [T.StructField("pii", T.StringType(), True)])


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
    pcfg = cfg.pii
    key = resolve_key(pcfg)  # fails here, before any work, when pseudonyms need a missing key
    df = read_parquet(spark, input_uri, cfg)
    df = spread(df, spark)  # per-row Python work: every core gets rows
    residual = cfg.validate_.check_residual_pii  # what the gate refuses is rejected here, row by row
    out = scrubbed(df, pcfg, key, residual)
    ctx.details.update(entity_stats(out))
    ctx.details["operators"] = {k: v.type for k, v in sorted(pcfg.operators.items())}
    ctx.details["policy"] = {
        "max_entities": pcfg.max_entities,
        "max_pii_share": pcfg.max_pii_share,
        "reject_residual": residual,
    }
    return split_decisions(out, "pii")


if __name__ == "__main__":
    sys.exit(main("pii", run))
