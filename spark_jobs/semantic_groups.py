"""Candidate groups for ``semantic_dedup``: KMeans keys on the embeddings (or the
hyperplane keys computed with them), and oversized groups cut into overlapping chunks."""

from __future__ import annotations

import time

from include.semantic import chunk_count, nearest_centroids
from spark_jobs.common import log


def kmeans_keys(spark, emb, sd, rows: int, partitions: int, ctx):
    """KMeans on a canonical layout of the embeddings (hash-partitioned by id, sorted), so the
    centroids do not depend on the input partitioning; keys = the ``kmeans_probes`` nearest."""
    import numpy as np
    import pandas as pd
    from pyspark import StorageLevel
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    k = chunk_count(sd.num_clusters, rows, sd.docs_per_cluster, sd.max_clusters)
    if k == 1:  # one group: nothing to train (MLlib needs k >= 2)
        ctx.details.update(num_clusters=1, kmeans_seconds=0.0)
        return emb.withColumn(
            "keys",
            F.when(F.col("ok"), F.array(F.lit(0).cast("long"))).otherwise(F.array().cast("array<bigint>")),
        )
    train = (
        emb.where("ok")
        .select("id", array_to_vector("embedding").alias("features"))
        .repartition(partitions, "id")
        .sortWithinPartitions("id")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    started = time.time()
    model = KMeans(k=k, seed=sd.seed, maxIter=sd.kmeans_max_iter, featuresCol="features").fit(train)
    train.unpersist()
    centers = np.asarray(model.clusterCenters(), dtype=np.float32)
    ctx.details.update(num_clusters=len(centers), kmeans_seconds=round(time.time() - started, 2))

    def assign(frames):
        for pdf in frames:
            vecs = (
                np.stack(pdf["embedding"].to_numpy())
                if len(pdf)
                else np.zeros((0, centers.shape[1]), np.float32)
            )
            near = nearest_centroids(vecs, centers, sd.kmeans_probes) if len(pdf) else []
            pdf["keys"] = [n.tolist() if o else [] for n, o in zip(near, pdf["ok"], strict=True)]
            yield pd.DataFrame(pdf)

    return emb.mapInPandas(assign, emb.schema)


def grouped(keyed, max_size: int, ctx):
    """(id, key, chunk): groups of at most ``max_size``. A larger group is ordered by a fixed
    random projection (then id) and cut into two half-offset chunkings, so two members within
    ``max_size / 2`` positions always share a chunk; its size is logged."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    sizes = keyed.groupBy("key").count()
    hist = sizes.groupBy(F.floor(F.log2("count")).alias("b")).count().collect()
    ctx.details["group_size_histogram"] = {
        f"{2 ** int(r['b'])}-{2 ** (int(r['b']) + 1) - 1}": int(r["count"])
        for r in sorted(hist, key=lambda r: r["b"])
    }
    big = sizes.where(F.col("count") > max_size)
    top = big.orderBy(F.col("count").desc(), "key").limit(20).collect()
    for r in top:
        log.warning(
            "semantic group %d has %d members (max_cluster_size %d): split into overlapping chunks",
            r["key"],
            r["count"],
            max_size,
        )
    ctx.details["oversized_groups"] = [int(r["count"]) for r in top]
    small = keyed.join(sizes.where(F.col("count") <= max_size).select("key"), "key").select(
        "id", "key", F.lit(0).cast("long").alias("chunk")
    )
    if not top:
        return small
    w = Window.partitionBy("key").orderBy("proj", "id")
    rn = F.row_number().over(w) - 1
    half = max_size // 2
    split = (
        keyed.join(big.select("key"), "key")
        .withColumn("rn", rn)
        .select(
            "id",
            "key",
            F.explode(
                F.array(
                    (2 * F.floor(F.col("rn") / max_size) + 1).cast("long"),
                    (2 * F.floor((F.col("rn") + half) / max_size) + 2).cast("long"),
                )
            ).alias("chunk"),
        )
    )
    return small.unionByName(split)
