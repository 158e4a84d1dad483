"""Stage ``near_dedup``: MinHash LSH near-duplicate removal, entirely in Spark.

signatures (library, in executors) -> band keys -> buckets ``groupBy(band, key)`` ->
an edge from each member to its bucket's smallest id -> optional Jaccard check of
each candidate edge on the hashed shingle sets -> connected components (large-star /
small-star, no GraphFrames, nothing collected to the driver) -> one survivor per
cluster by a total order, so the result does not depend on partitioning.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import dedup_index as di
from include.minhash import (
    MinHashParams,
    band_keys,
    candidate_probability,
    optimal_bands,
    shingle_hashes,
    signatures_from_hashes,
)
from include.normalize import NormalizeOptions
from spark_jobs import dedup_index
from spark_jobs.common import StageOutput, as_rejects, log, main, read_parquet


def banding(nd) -> tuple[int, int]:
    if nd.bands:
        return nd.bands, nd.rows
    return optimal_bands(nd.threshold, nd.num_perm, nd.false_positive_weight, nd.false_negative_weight)


def with_signatures(
    df,
    params: MinHashParams,
    norm: NormalizeOptions,
    bands: int,
    rows: int,
    keep_shingles: bool,
    keep_signature: bool = False,
):
    """(id, n_shingles, shingles, bands, signature) per row, computed by the library in
    executors (Arrow batches); shingles and signature are null unless asked for."""
    import numpy as np
    import pyarrow as pa
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("id", T.StringType(), False),
            T.StructField("n_shingles", T.IntegerType(), False),
            T.StructField("shingles", T.ArrayType(T.IntegerType()), True),
            T.StructField("bands", T.ArrayType(T.LongType()), True),
            T.StructField("signature", T.ArrayType(T.IntegerType()), True),
        ]
    )

    def sign(batches):
        for batch in batches:
            texts = batch.column("text").to_pylist()
            hashes, counts = shingle_hashes(texts, params, norm)
            sig = signatures_from_hashes(hashes, counts, params)
            keys = band_keys(sig, bands, rows)
            shingle_lists = None
            if keep_shingles:
                bounds = np.concatenate([[0], np.cumsum(counts)])
                signed = hashes.view(np.int32)
                shingle_lists = [
                    np.unique(signed[bounds[i] : bounds[i + 1]]).tolist() for i in range(len(counts))
                ]
            yield pa.RecordBatch.from_pydict(
                {
                    "id": batch.column("id"),
                    "n_shingles": pa.array(counts.astype(np.int32)),
                    "shingles": pa.array(shingle_lists, pa.list_(pa.int32()))
                    if keep_shingles
                    else pa.nulls(len(counts), pa.list_(pa.int32())),
                    "bands": pa.array(
                        [k.tolist() if c else None for k, c in zip(keys, counts, strict=True)],
                        pa.list_(pa.int64()),
                    ),
                    "signature": pa.array(list(sig.view(np.int32)), pa.list_(pa.int32()))
                    if keep_signature
                    else pa.nulls(len(counts), pa.list_(pa.int32())),
                },
                schema=pa.schema(
                    [
                        ("id", pa.string(), False),
                        ("n_shingles", pa.int32(), False),
                        ("shingles", pa.list_(pa.int32())),
                        ("bands", pa.list_(pa.int64())),
                        ("signature", pa.list_(pa.int32())),
                    ]
                ),
            )

    return df.select("id", "text").mapInArrow(sign, schema)


def connected_components(edges, max_iterations: int):
    """Component label (smallest id) of every node in ``edges(src, dst)``: alternating
    large-star / small-star (Kiveris et al. 2014) on DataFrames, lineage cut every round."""
    from pyspark.sql import functions as F

    e = (
        edges.select(F.greatest("src", "dst").alias("u"), F.least("src", "dst").alias("v"))
        .where("u != v")
        .distinct()
        .localCheckpoint()
    )
    for rounds in range(1, max_iterations + 1):
        # large-star: every neighbour larger than u links to min(N(u) + u)
        both = e.union(e.select(F.col("v").alias("u"), F.col("u").alias("v")))
        m = both.groupBy("u").agg(F.min("v").alias("m")).withColumn("m", F.least("m", "u"))
        large = (
            both.join(m, "u")
            .where(F.col("v") > F.col("u"))
            .select(F.col("v").alias("u"), F.col("m").alias("v"))
            .distinct()
        )
        # small-star: u and its smaller neighbours link to min(N<(u) + u)
        m2 = large.groupBy("u").agg(F.min("v").alias("m"))
        small = (
            large.join(m2, "u")
            .select(F.col("v").alias("u"), F.col("m").alias("v"))
            .union(m2.select(F.col("u"), F.col("m").alias("v")))
            .where("u != v")
            .distinct()
            .localCheckpoint()
        )
        changed = small.exceptAll(e).count() + e.exceptAll(small).count()
        e = small
        if changed == 0:
            log.info("connected components converged after %d rounds", rounds)
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")
    labels = e.groupBy("u").agg(F.min("v").alias("cluster")).withColumnRenamed("u", "id")
    roots = e.select(F.col("v").alias("id")).distinct().withColumn("cluster", F.col("id"))
    return labels.unionByName(roots).groupBy("id").agg(F.min("cluster").alias("cluster")), rounds


def survivor_order(keep: str, columns: list[str]):
    from pyspark.sql import functions as F

    if keep == "smallest_id":
        return [F.col("id").asc()]
    order = [F.length("text").desc(), F.col("id").asc()]
    if keep == "quality" and "quality" in columns:
        order = [F.col("quality").desc_nulls_last(), *order]
    return order


def rank_clusters(df, labels, keep: str, cluster_col: str = "dup_cluster"):
    """``df`` plus ``cluster_col``, ``_rank`` (1 = the cluster's survivor by :func:`survivor_order`)
    and ``_survivor`` for rows in ``labels(id, cluster)`` (null elsewhere), persisted; and the
    stats: clusters, cluster-size histogram, rows removed. Shared by the dedup stages."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # rank only the clustered rows (unclustered ones would all share one null window key)
    order_cols = ["id", "text"] + (["quality"] if "quality" in df.columns else [])
    w = Window.partitionBy(cluster_col).orderBy(*survivor_order(keep, df.columns))
    ranked = (
        df.select(*order_cols)
        .join(labels.withColumnRenamed("cluster", cluster_col), "id")
        .withColumn("_rank", F.row_number().over(w))
        .withColumn("_survivor", F.first("id").over(w))
        .select("id", cluster_col, "_rank", "_survivor")
    )
    clustered = df.join(ranked, "id", "left").persist(StorageLevel.MEMORY_AND_DISK)
    sizes = (
        clustered.where(F.col(cluster_col).isNotNull())
        .groupBy(cluster_col)
        .count()
        .groupBy("count")
        .count()
        .collect()
    )
    hist = Counter({int(r[0]): int(r[1]) for r in sizes})
    return clustered, {
        "clusters": sum(hist.values()),
        "cluster_size_histogram": {str(k): hist[k] for k in sorted(hist)},
        "removed": sum((k - 1) * v for k, v in hist.items()),
    }


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    nd = cfg.near_dedup
    bands, rows = banding(nd)
    params = MinHashParams(
        num_perm=nd.num_perm,
        seed=nd.seed,
        ngram=nd.ngram,
        char_ngrams=nd.char_ngrams,
        hash_function=nd.hash_function,
    )
    ctx.details.update(
        bands=bands,
        rows=rows,
        threshold=nd.threshold,
        num_perm=nd.num_perm,
        s_curve={str(s): round(candidate_probability(s, bands, rows), 4) for s in (0.5, 0.7, 0.8, 0.9)},
    )
    df = read_parquet(spark, input_uri, cfg)
    if "dup_cluster" in df.columns:
        df = df.drop("dup_cluster")
    indexed = di.index_on(cfg)
    sigs = with_signatures(
        df, params, NormalizeOptions.from_config(cfg.normalize), bands, rows, nd.verify == "jaccard", indexed
    ).persist(StorageLevel.MEMORY_AND_DISK)
    published = None
    if indexed:
        df, sigs, published = _against_published(spark, cfg, ctx, df, sigs, di.params_of(cfg, bands, rows))
    keyed = sigs.where("n_shingles > 0").select("id", F.posexplode("bands").alias("band", "key"))
    buckets = (
        keyed.groupBy("band", "key")
        .agg(F.min("id").alias("root"), F.count("*").alias("size"))
        .where("size > 1")
    )
    big = (
        buckets.where(F.col("size") > nd.max_bucket_size)
        .orderBy(F.col("size").desc())
        .limit(20)
        .select("band", "size")
        .collect()
    )
    for b in big:
        log.warning(
            "LSH bucket in band %d has %d members (max_bucket_size %d)",
            b["band"],
            b["size"],
            nd.max_bucket_size,
        )
    ctx.details["oversized_buckets"] = [b["size"] for b in big]
    edges = (
        keyed.join(buckets, ["band", "key"])
        .where(F.col("id") != F.col("root"))
        .select(F.col("id").alias("src"), F.col("root").alias("dst"))
        .distinct()
    )
    ctx.details["candidate_edges"] = edges.count()
    if nd.verify == "jaccard":
        a = sigs.select(F.col("id").alias("src"), F.col("shingles").alias("sa"))
        b = sigs.select(F.col("id").alias("dst"), F.col("shingles").alias("sb"))
        jac = F.size(F.array_intersect("sa", "sb")) / F.size(F.array_union("sa", "sb"))
        edges = edges.join(a, "src").join(b, "dst").where(jac >= nd.threshold).select("src", "dst")
        ctx.details["verified_edges"] = edges.count()
    labels, rounds = connected_components(edges, nd.max_iterations)
    ctx.details["cc_rounds"] = rounds
    clustered, summary = rank_clusters(df, labels, nd.keep)
    ctx.details.update(summary, keep=nd.keep)
    curated = clustered.where("_rank IS NULL OR _rank = 1").drop("_rank", "_survivor")
    rejects = as_rejects(
        clustered.where("_rank > 1"),
        "near_dedup",
        F.lit("near_duplicate"),
        detail_col=F.concat(
            F.lit("same near-duplicate cluster as survivor "),
            F.col("_survivor"),
            F.lit(
                f" (linked by verified Jaccard >= {nd.threshold} pairs)"
                if nd.verify == "jaccard"
                else f" (linked by shared LSH bands, threshold {nd.threshold})"
            ),
        ),
        dup_of_col=F.col("_survivor"),
        cluster_col=F.col("dup_cluster"),
    )
    if indexed:
        dedup_index.write_staged(sigs, curated, cfg, ctx.output_uri, di.params_of(cfg, bands, rows))
        if published is not None:
            rejects = rejects.unionByName(published)
    return StageOutput(curated, rejects)


def _against_published(spark, cfg, ctx, df, sigs, params):
    """Rows whose band keys and signature match a published record: removed before
    clustering, returned as ``near_duplicate_of_published`` rejects."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    nd = cfg.near_dedup
    index = dedup_index.load(spark, cfg, ctx.output_uri, params)
    ctx.details["index"] = index.info
    if index.bands is None:
        return df, sigs, None
    threshold = nd.index.threshold or nd.threshold
    hits = dedup_index.near_matches(sigs, index, threshold, nd.num_perm).persist(StorageLevel.MEMORY_AND_DISK)
    ctx.details["index"]["rejected"] = hits.count()
    rejects = as_rejects(
        df.join(hits, "id"),
        "near_dedup",
        F.lit(dedup_index.NEAR_REASON),
        detail_col=F.concat(
            F.lit("near duplicate of a record published in "),
            F.col("_pub_version"),
            F.lit(" (estimated Jaccard "),
            F.format_number("_jaccard", 3),
            F.lit(f" >= {threshold})"),
        ),
        dup_of_col=F.col("_pub"),
    )
    gone = hits.select("id")
    sigs = sigs.join(gone, "id", "left_anti").persist(StorageLevel.MEMORY_AND_DISK)
    return df.join(gone, "id", "left_anti"), sigs, rejects


if __name__ == "__main__":
    sys.exit(main("near_dedup", run))
