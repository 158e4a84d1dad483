"""near_dedup on local[2]: known clusters (a chain included), determinism, rejects and stats."""

from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest

from include.config import load_config
from include.minhash import MinHashParams, shingles
from include.normalize import normalize_text
from spark_jobs import near_dedup
from spark_jobs.common import run_stage

pytestmark = pytest.mark.spark
VOCAB = [f"w{i}" for i in range(5000)]


def doc(seed: int, n: int = 200) -> list[str]:
    return random.Random(seed).choices(VOCAB, k=n)


def replace(words: list[str], lo: int, hi: int, seed: int) -> list[str]:
    out = list(words)
    rnd = random.Random(seed)
    for i in range(lo, hi):
        out[i] = rnd.choice(VOCAB)
    return out


def jaccard(a: str, b: str) -> float:
    sa, sb = (set(shingles(normalize_text(x), MinHashParams())) for x in (a, b))
    return len(sa & sb) / len(sa | sb)


@pytest.fixture(scope="module")
def corpus():
    a = doc(1)
    b = replace(a, 186, 200, 2)
    c = replace(b, 172, 186, 3)
    rows = {
        "A": " ".join(a),
        "B": " ".join(b) + " tail",
        "C": " ".join(c) + " longer tail here",
        "F": "The Same Sentence, with punctuation! " + " ".join(doc(7, 60)),
        "G": "the same sentence with punctuation " + " ".join(doc(7, 60)),
        "D": " ".join(doc(4)),
        "E": " ".join(doc(5)),
        "S": "tiny",
        "Z": "",
    }
    assert jaccard(rows["A"], rows["B"]) >= 0.8 and jaccard(rows["B"], rows["C"]) >= 0.8
    assert jaccard(rows["A"], rows["C"]) < 0.8  # a chain: A and C are not near duplicates
    return [{"id": k, "text": v, "source_file": "f", "line": i} for i, (k, v) in enumerate(rows.items())]


@pytest.fixture(scope="module")
def cfg():
    return load_config({"spark": {"master": "local[2]", "shuffle_partitions": 3}})


def _run(spark, cfg, rows, parts, tmp_path):
    src = tmp_path / f"in{parts}"
    spark.createDataFrame(rows).repartition(parts).write.parquet(str(src))
    stats = run_stage("near_dedup", near_dedup.run, str(src), str(tmp_path / f"out{parts}"), cfg, spark=spark)
    curated = pq.read_table(tmp_path / f"out{parts}" / "curated").to_pylist()
    rejects = pq.read_table(tmp_path / f"out{parts}" / "rejects").to_pylist()
    return stats, curated, rejects


def test_chain_is_one_cluster_and_survivors_are_deterministic(spark, cfg, corpus, tmp_path):
    results = []
    for parts in (1, 5):
        stats, curated, rejects = _run(spark, cfg, corpus, parts, tmp_path)
        assert (stats["in"], stats["out"], stats["rejected"]) == (9, 6, 3)
        kept = {r["id"]: r["dup_cluster"] for r in curated}
        assert set(kept) == {"C", "F", "D", "E", "S", "Z"}  # longest text survives in each cluster
        assert kept["C"] == "A" and kept["F"] == "F" and kept["D"] is None
        got = sorted((r["id"], r["dup_of"], r["cluster_id"], r["reason"], r["stage"]) for r in rejects)
        assert got == [
            ("A", "C", "A", "near_duplicate", "near_dedup"),
            ("B", "C", "A", "near_duplicate", "near_dedup"),
            ("G", "F", "F", "near_duplicate", "near_dedup"),
        ]
        results.append((sorted(kept.items(), key=str), got))
        d = stats["details"]
        assert (d["bands"], d["rows"]) == (17, 7) and d["cluster_size_histogram"] == {"2": 1, "3": 1}
        assert d["removed"] == 3 and d["clusters"] == 2
        assert d["s_curve"]["0.9"] > 0.9 > d["s_curve"]["0.5"]
        assert d["verified_edges"] <= d["candidate_edges"]
    assert results[0] == results[1]


def test_keep_smallest_id_and_no_verification(spark, corpus, tmp_path):
    cfg = load_config(
        {"spark": {"master": "local[2]"}, "near_dedup": {"keep": "smallest_id", "verify": "none"}}
    )
    stats, curated, rejects = _run(spark, cfg, corpus, 2, tmp_path)
    assert {r["id"] for r in curated} >= {"A", "F", "D", "E"} and "G" not in {r["id"] for r in curated}
    assert {r["dup_of"] for r in rejects} <= {"A", "F"}
    assert "verified_edges" not in stats["details"]


def test_bad_banding_config_is_rejected_up_front():
    from include.config import ConfigError

    with pytest.raises(ConfigError, match="bands x rows = 400 exceeds num_perm = 128"):
        load_config({"near_dedup": {"bands": 20, "rows": 20}})
