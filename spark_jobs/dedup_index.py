"""Spark side of the cross-night dedup index (layout and writing: ``include/dedup_index.py``).

``exact_dedup`` joins tonight's ``norm_hash`` with the published records'; ``near_dedup``
joins tonight's band keys with the published band keys, checks each candidate pair's
MinHash-estimated Jaccard (share of equal signature positions) and keeps, per row, the
best published match. Only the index's band keys and the candidates' signatures are
read: nothing of the history is re-hashed. The same id is never its own duplicate, so a
rerun of a night (or a republish under a new config) rejects nothing it published.
"""

from __future__ import annotations

from dataclasses import dataclass

from include import dedup_index as di
from include import storage
from include.semantic_index import output_root
from spark_jobs.common import read_parquet_files

EXACT_REASON = "exact_duplicate_of_published"
NEAR_REASON = "near_duplicate_of_published"


@dataclass
class PublishedIndex:
    bands: object  # DataFrame(band, key, id, version)
    records: object  # DataFrame(id, version, norm_hash, signature)
    info: dict  # lineage: path, segments, versions, rows, digest


def load(spark, cfg, stage_output_uri: str, params: dict) -> PublishedIndex | None:
    """The committed segments made with ``params``, or None when there are none yet."""
    from pyspark.sql.pandas.types import from_arrow_schema

    ep = cfg.storage.s3_endpoint_url
    uri = di.index_uri(cfg, output_root(stage_output_uri))
    segs = di.usable_segments(uri, params, ep)
    info = {"path": uri, "segments": [s["segment"] for s in segs], "rows": sum(s["rows"] for s in segs)}
    info["versions"] = sorted({v for s in segs for v in s["versions"]})
    info["digest"] = di.digest(info["segments"])  # the index version this run was checked against
    if not segs:
        return PublishedIndex(None, None, info)
    band_files = [di.band_file(uri, b, s["segment"]) for s in segs for b in range(params["bands"])]
    return PublishedIndex(
        read_parquet_files(spark, band_files, cfg, from_arrow_schema(di.BAND_SCHEMA)),
        read_parquet_files(
            spark,
            [di.records_file(uri, s["segment"]) for s in segs],
            cfg,
            from_arrow_schema(di.RECORD_SCHEMA),
        ),
        info,
    )


def _best(matches, score=None):
    """One published match per row: highest score, then smallest published id."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = ([F.col(score).desc()] if score else []) + [F.col("_pub").asc()]
    w = Window.partitionBy("id").orderBy(*order)
    return matches.withColumn("_r", F.row_number().over(w)).where("_r = 1").drop("_r")


def exact_matches(df, index: PublishedIndex):
    """(id, _pub, _pub_version) of rows whose norm_hash a published record has."""
    from pyspark.sql import functions as F

    pub = index.records.select(
        "norm_hash", F.col("id").alias("_pub"), F.col("version").alias("_pub_version")
    ).where(F.col("norm_hash").isNotNull())
    return _best(
        df.select("id", "norm_hash").join(pub, "norm_hash").where(F.col("id") != F.col("_pub"))
    ).drop("norm_hash")


def near_matches(sigs, index: PublishedIndex, threshold: float, num_perm: int):
    """(id, _pub, _pub_version, _jaccard) of rows sharing a band with a published record whose
    estimated Jaccard is >= threshold. ``sigs``: (id, n_shingles, bands, signature)."""
    from pyspark.sql import functions as F

    keyed = sigs.where("n_shingles > 0").select("id", F.posexplode("bands").alias("band", "key"))
    pub = index.bands.select("band", "key", F.col("id").alias("_pub"), F.col("version").alias("_pub_version"))
    cand = (
        keyed.join(pub, ["band", "key"])
        .where(F.col("id") != F.col("_pub"))
        .select("id", "_pub", "_pub_version")
        .distinct()
    )
    theirs = index.records.select(F.col("id").alias("_pub"), F.col("signature").alias("_sb"))
    ours = sigs.select("id", F.col("signature").alias("_sa"))
    equal = F.size(F.filter(F.arrays_zip("_sa", "_sb"), lambda x: x["_sa"] == x["_sb"]))
    scored = (
        cand.join(theirs.join(cand.select("_pub").distinct(), "_pub"), "_pub")
        .join(ours, "id")
        .withColumn("_jaccard", equal / F.lit(num_perm))
        .where(F.col("_jaccard") >= threshold)
        .select("id", "_pub", "_pub_version", "_jaccard")
    )
    return _best(scored, "_jaccard")


def write_staged(sigs, curated, cfg, stage_output_uri: str, params: dict) -> None:
    """Survivors' (id, norm_hash, signature, bands) for publish to add after its commit."""
    from pyspark.sql import functions as F

    from spark_jobs.common import write_parquet

    norm = curated.select("id", "norm_hash") if "norm_hash" in curated.columns else curated.select("id")
    if "norm_hash" not in norm.columns:
        norm = norm.withColumn("norm_hash", F.lit(None).cast("string"))
    rows = norm.join(sigs.select("id", "signature", "bands"), "id")
    uri = storage.join(stage_output_uri, di.STAGED_DIR)
    write_parquet(rows.select("id", "norm_hash", "signature", "bands"), uri, cfg)
    storage.write_json(storage.join(uri, di.PARAMS_FILE), params, cfg.storage.s3_endpoint_url)
