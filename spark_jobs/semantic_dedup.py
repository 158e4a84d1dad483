"""Stage ``semantic_dedup``: embedding-based (SemDeDup-style) duplicate removal, in Spark.

embeddings (sentence-transformers, in executors, model loaded once per Python worker)
-> grouping keys (MLlib KMeans centroids, or random-hyperplane LSH buckets) -> oversized
groups split into overlapping chunks -> exact cosine pairs within each group
(``groupBy().applyInPandas``) -> optional cross-encoder re-check -> connected components
and one survivor per group, both shared with ``near_dedup`` -> optionally (nightly mode)
the survivors are checked against the published records in a vector database.
Nothing is collected to the driver except small summaries (and, in embedded-Qdrant
nightly mode only, the survivors' embeddings, streamed in batches).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import storage
from include.semantic import (
    cross_encoder_scores,
    embed,
    hyperplane_keys,
    hyperplanes,
    projection,
    resolve_model_path,
    similar_pairs,
)
from include.semantic_index import EMBEDDINGS_DIR, batches, open_index, output_root
from spark_jobs.common import StageOutput, as_rejects, main, read_parquet, spread, write_parquet
from spark_jobs.near_dedup import connected_components, rank_clusters
from spark_jobs.semantic_groups import grouped, kmeans_keys

REASON = "semantic_duplicate"


def embed_text(df, source: str):
    """The column to embed: ``text``, the prompt (system + non-assistant turns) or the final answer."""
    from pyspark.sql import functions as F

    if source == "text" or "messages" not in df.columns:
        return F.col("text")

    def contents(col, keep):
        return F.transform(F.filter(col, keep), lambda m: m["content"])

    if source == "prompt":
        turns = F.concat_ws("\n\n", contents(F.col("messages"), lambda m: m["role"] != "assistant"))
        system = F.col("system") if "system" in df.columns else F.lit(None).cast("string")
        return F.concat_ws("\n\n", system, turns)
    last = [
        F.try_element_at(contents(F.col(c), lambda m: m["role"] == "assistant"), F.lit(-1))
        for c in ("chosen", "messages")
        if c in df.columns
    ]
    return F.coalesce(*last, F.col("text"))


def with_embeddings(df, sd):
    """(id, embedding, ok, proj, keys) per row; keys filled here for hyperplanes, later for kmeans.
    Only executors load the model (the driver learns the dimension from the first row)."""
    import numpy as np
    import pandas as pd

    schema = "id string, embedding array<float>, ok boolean, proj double, keys array<bigint>"

    def run(frames):
        from pyspark import TaskContext

        try:
            import torch

            torch.set_num_threads(max(1, TaskContext.get().cpus()))  # Spark runs one task per core
        except Exception:  # noqa: BLE001 - threads are a tuning knob, never a failure
            pass
        for pdf in frames:
            vecs = embed(pdf["_etext"].tolist(), sd.model, sd.device, sd.batch_size, sd.max_chars)
            dim = vecs.shape[1]
            ok = np.abs(vecs).sum(axis=1) > 0
            if sd.clustering == "hyperplanes":
                planes = hyperplanes(dim, sd.hyperplane_bits, sd.hyperplane_tables, sd.seed)
                keys = [
                    k.tolist() if o else []
                    for k, o in zip(hyperplane_keys(vecs, planes, sd.hyperplane_bits), ok, strict=True)
                ]
            else:
                keys = [[] for _ in ok]
            yield pd.DataFrame(
                {
                    "id": pdf["id"],
                    "embedding": list(vecs),
                    "ok": ok,
                    "proj": vecs @ projection(dim, sd.seed),
                    "keys": keys,
                }
            )

    return df.select("id", embed_text(df, sd.text_source).alias("_etext")).mapInPandas(run, schema)


def find_pairs(groups, emb, threshold: float):
    """(src, dst, score): pairs with cosine >= threshold inside any group, each once (src < dst)."""
    import numpy as np
    import pandas as pd
    from pyspark.sql import functions as F

    def pairs(pdf):
        found = (
            similar_pairs(pdf["id"].tolist(), np.stack(pdf["embedding"].to_numpy()), threshold)
            if len(pdf) > 1
            else []
        )
        return pd.DataFrame(found, columns=["src", "dst", "score"], dtype=object)

    members = groups.join(emb.select("id", "embedding"), "id")
    found = members.groupBy("key", "chunk").applyInPandas(pairs, "src string, dst string, score double")
    return found.groupBy("src", "dst").agg(F.max("score").alias("score"))


def cross_encoder_check(edges, texts, ce, device: str):
    """Keep the pairs whose cross-encoder score is >= ``ce.threshold``."""
    import pandas as pd
    from pyspark.sql import functions as F

    a = texts.select(F.col("id").alias("src"), F.col("_etext").alias("ta"))
    b = texts.select(F.col("id").alias("dst"), F.col("_etext").alias("tb"))

    def score(frames):
        for pdf in frames:
            s = cross_encoder_scores(
                list(zip(pdf["ta"].fillna(""), pdf["tb"].fillna(""), strict=True)),
                ce.model,
                device,
                ce.batch_size,
                ce.max_chars,
            )
            yield pd.DataFrame({"src": pdf["src"], "dst": pdf["dst"], "score": pdf["score"], "ce_score": s})

    scored = (
        edges.join(a, "src")
        .join(b, "dst")
        .select("src", "dst", "score", "ta", "tb")
        .mapInPandas(score, "src string, dst string, score double, ce_score float")
    )
    return scored.where(F.col("ce_score") >= ce.threshold).select("src", "dst", "score")


def index_matches(spark, survivors_emb, sd, dim: int, root: str, ctx):
    """(id, dup_of, score, version): survivors whose embedding matches a published record."""
    import numpy as np
    import pandas as pd

    ix = sd.index
    threshold = ix.threshold or sd.threshold
    schema = "id string, dup_of string, score double, version string"
    if ix.url:  # a server takes concurrent clients: query from the executors

        def query(frames):
            index = open_index(ix, dim, root)
            try:
                for pdf in frames:
                    ids = pdf["id"].tolist()
                    vecs = np.stack(pdf["embedding"].to_numpy()) if ids else np.zeros((0, dim), np.float32)
                    rows = [
                        m
                        for bid, bvec in batches(ids, vecs, ix.batch_size)
                        for m in index.query(bid, bvec, threshold)
                    ]
                    yield pd.DataFrame(rows, columns=["id", "dup_of", "score", "version"], dtype=object)
            finally:
                index.close()

        return survivors_emb.mapInPandas(query, schema), None
    # embedded Qdrant is single-process: the driver queries it, streaming the survivors in batches
    index = open_index(ix, dim, root)
    try:
        points = index.count()
        matches, ids, vecs = [], [], []
        for row in survivors_emb.toLocalIterator():
            ids.append(row["id"])
            vecs.append(row["embedding"])
            if len(ids) >= ix.batch_size:
                matches += index.query(ids, np.asarray(vecs, dtype=np.float32), threshold)
                ids, vecs = [], []
        if ids:
            matches += index.query(ids, np.asarray(vecs, dtype=np.float32), threshold)
    finally:
        index.close()
    return spark.createDataFrame(matches, schema), points


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    sd = cfg.semantic_dedup
    model_path = resolve_model_path(sd.model)  # fail before any Spark work when the model is missing
    if sd.cross_encoder.model:
        resolve_model_path(sd.cross_encoder.model)
    ctx.details.update(
        model=model_path,
        text_source=sd.text_source,
        threshold=sd.threshold,
        clustering=sd.clustering,
        keep=sd.keep,
    )
    df = read_parquet(spark, input_uri, cfg)
    emb = with_embeddings(spread(df, spark), sd).persist(StorageLevel.MEMORY_AND_DISK)
    started = time.time()
    rows = emb.count()
    seconds = time.time() - started
    first = emb.where("ok").select(F.size("embedding").alias("dim")).first()
    dim = first["dim"] if first else None  # None: no text to embed at all
    ctx.details.update(
        embedded=rows,
        dim=dim,
        embed_seconds=round(seconds, 2),
        embed_docs_per_s=round(rows / seconds, 1) if seconds > 0 else None,
    )
    if sd.clustering == "kmeans":
        emb = kmeans_keys(spark, emb, sd, rows, cfg.spark.shuffle_partitions, ctx).persist(
            StorageLevel.MEMORY_AND_DISK
        )
    else:
        ctx.details.update(hyperplane_bits=sd.hyperplane_bits, hyperplane_tables=sd.hyperplane_tables)
    keyed = emb.select("id", "proj", F.explode("keys").alias("key"))
    groups = grouped(keyed, sd.max_cluster_size, ctx)
    edges = find_pairs(groups, emb, sd.threshold).persist(StorageLevel.MEMORY_AND_DISK)
    ctx.details["candidate_pairs"] = edges.count()
    if sd.cross_encoder.model:
        texts = df.select("id", embed_text(df, sd.text_source).alias("_etext"))
        edges = cross_encoder_check(edges, texts, sd.cross_encoder, sd.device).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        ctx.details["cross_encoder_pairs"] = edges.count()
    labels, rounds = connected_components(edges.select("src", "dst"), sd.max_iterations)
    ctx.details["cc_rounds"] = rounds
    clustered, summary = rank_clusters(df, labels, sd.keep, cluster_col="_sem_cluster")
    ctx.details.update(summary)
    rejects = as_rejects(
        clustered.where("_rank > 1"),
        "semantic_dedup",
        F.lit(REASON),
        detail_col=F.concat(F.lit(f"cosine >= {sd.threshold} (same group) with "), F.col("_survivor")),
        dup_of_col=F.col("_survivor"),
        cluster_col=F.col("_sem_cluster"),
    )
    curated = clustered.where("_rank IS NULL OR _rank = 1").drop("_rank", "_survivor", "_sem_cluster")
    if sd.index.enabled:
        root = output_root(ctx.output_uri)
        survivors_emb = curated.select("id").join(emb.where("ok").select("id", "embedding"), "id")
        if dim is None:
            matched, points = (
                spark.createDataFrame([], "id string, dup_of string, score double, version string"),
                None,
            )
        else:
            matched, points = index_matches(spark, survivors_emb, sd, dim, root, ctx)
        matched = matched.persist(StorageLevel.MEMORY_AND_DISK)
        found = matched.count()
        ctx.details["index"] = {
            "backend": sd.index.backend,
            "mode": "server" if sd.index.url else "embedded",
            "collection": sd.index.collection,
            "points_before": points,
            "matched": found,
        }
        hit = curated.join(matched, "id")
        rejects = rejects.unionByName(
            as_rejects(
                hit,
                "semantic_dedup",
                F.lit(REASON),
                detail_col=F.concat(
                    F.lit("cosine "),
                    F.format_number("score", 4),
                    F.lit(" with published "),
                    F.col("dup_of"),
                    F.lit(" ("),
                    F.coalesce("version", F.lit("?")),
                    F.lit(")"),
                ),
                dup_of_col=F.col("dup_of"),
            )
        )
        curated = curated.join(matched.select("id"), "id", "left_anti")
        # survivors' embeddings: publish upserts those of the rows it publishes (after its commit)
        write_parquet(
            curated.select("id").join(emb.where("ok").select("id", "embedding"), "id"),
            storage.join(ctx.output_uri, EMBEDDINGS_DIR),
            cfg,
        )
    return StageOutput(curated, rejects)


if __name__ == "__main__":
    sys.exit(main("semantic_dedup", run))
