"""Stage ``exact_dedup``: one survivor per ``norm_hash``; the others go to rejects with
``reason=exact_duplicate`` and ``dup_of``. The survivor is chosen by a total order on
row values, so it is the same whatever the partitioning.

Then one row per ``id``: a source id given to two different records (two files, or twice
in one file) keeps the first by ``(source_file, line)``; the others are rejected as
``duplicate_id`` naming both places, so the gate's unique-id check never sees them."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import dedup_index as di
from include.normalize import NormalizeOptions
from spark_jobs import dedup_index
from spark_jobs.common import StageOutput, as_rejects, main, read_parquet
from spark_jobs.normalize import with_norm_hash


def survivor_order(keep: str):
    """Sort keys of the ``keep`` rule; the first row per hash survives."""
    from pyspark.sql import functions as F

    tie_break = [F.col("source_file").asc(), F.col("line").asc(), F.col("id").asc()]
    if keep == "longest":
        return [F.length("text").desc(), *tie_break]
    return tie_break


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = read_parquet(spark, input_uri, cfg)
    if "norm_hash" not in df.columns or not cfg.normalize.enabled:
        ctx.details["norm_hash"] = "computed here (normalize stage did not run)"
        df = with_norm_hash(df, NormalizeOptions.from_config(cfg.normalize))
    w = Window.partitionBy("norm_hash").orderBy(*survivor_order(cfg.exact_dedup.keep))
    ranked = (
        df.withColumn("_rank", F.row_number().over(w))
        .withColumn("_survivor", F.first("id").over(w))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    unique = ranked.filter("_rank = 1").drop("_rank", "_survivor")
    dups = ranked.filter("_rank > 1")
    rejects = as_rejects(
        dups,
        "exact_dedup",
        F.lit("exact_duplicate"),
        detail_col=F.concat(F.lit("same normalized text as "), F.col("_survivor")),
        dup_of_col=F.col("_survivor"),
    )
    by_id = Window.partitionBy("id").orderBy(*survivor_order("first"))
    first_at = F.concat_ws(
        ":", F.first("source_file").over(by_id), F.first("line").over(by_id).cast("string")
    )
    ided = unique.withColumn("_id_rank", F.row_number().over(by_id)).withColumn("_first_at", first_at)
    curated = ided.filter("_id_rank = 1").drop("_id_rank", "_first_at")
    detail = F.format_string(
        "id %s in %s:%s is already used by a different record in %s", "id", "source_file", "line", "_first_at"
    )
    id_rejects = as_rejects(
        ided.filter("_id_rank > 1"), "exact_dedup", F.lit("duplicate_id"), detail, dup_of_col=F.col("id")
    )
    ctx.details["keep"] = cfg.exact_dedup.keep
    rejects = rejects.unionByName(id_rejects)
    if di.index_on(cfg):
        curated, published = _against_published(spark, cfg, ctx, curated)
        rejects = rejects.unionByName(published) if published is not None else rejects
    return StageOutput(curated, rejects)


def _against_published(spark, cfg, ctx, curated):
    """Survivors whose normalized text a published record has (``near_dedup.index``)."""
    from pyspark.sql import functions as F

    from spark_jobs.near_dedup import banding

    index = dedup_index.load(spark, cfg, ctx.output_uri, di.params_of(cfg, *banding(cfg.near_dedup)))
    ctx.details["index"] = index.info
    if index.records is None:
        return curated, None
    hits = dedup_index.exact_matches(curated, index).persist()
    ctx.details["index"]["rejected"] = hits.count()
    rejects = as_rejects(
        curated.join(hits, "id"),
        "exact_dedup",
        F.lit(dedup_index.EXACT_REASON),
        detail_col=F.concat(F.lit("same normalized text as a record published in "), F.col("_pub_version")),
        dup_of_col=F.col("_pub"),
    )
    return curated.join(hits.select("id"), "id", "left_anti"), rejects


if __name__ == "__main__":
    sys.exit(main("exact_dedup", run))
