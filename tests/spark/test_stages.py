"""Stage jobs on local[2] Spark with the bundled sample data (one shared session)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from include import storage
from include.config import load_config
from spark_jobs import exact_dedup, ingest, normalize
from spark_jobs.common import run_stage

pytestmark = pytest.mark.spark

# file -> (source records, canonical rows, rejected records) for include/sample_data
EXPECTED_FILES = {
    "alpaca.json": (6, 5, 1),
    "alpaca_near_duplicates.jsonl": (2, 2, 0),
    "hh_rlhf.jsonl.gz": (1, 1, 0),
    "kto.jsonl": (3, 2, 1),
    "oasst_messages.parquet": (4, 1, 2),
    "oasst_tree.jsonl": (1, 2, 0),
    "openai_chat.jsonl": (9, 4, 5),
    "preference_ranked.jsonl": (2, 2, 1),
    "prompt_chosen_rejected.jsonl": (1, 1, 0),
    "sharegpt_preference.json": (1, 1, 0),
    "sharegpt_tools.jsonl": (3, 2, 1),
    "unknown_format.jsonl": (2, 0, 2),
}


def read(path) -> list[dict]:
    return pq.read_table(str(path)).to_pylist()


@pytest.fixture(scope="module")
def cfg():
    return load_config({"spark": {"master": "local[2]", "shuffle_partitions": 4}})


@pytest.fixture(scope="module")
def ingested(spark, cfg, sample_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest")
    stats = run_stage("ingest", ingest.run, str(sample_data), str(out), cfg, spark=spark)
    return out, stats


def test_ingest_counts_every_file_and_record(ingested):
    out, stats = ingested
    files = {f["relative"]: (f["records"], f["rows"], f["rejected"]) for f in stats["details"]["files"]}
    assert files == EXPECTED_FILES
    records = sum(v[0] for v in EXPECTED_FILES.values())
    assert stats["in"] == stats["details"]["records"] == records
    assert stats["out"] == sum(v[1] for v in EXPECTED_FILES.values()) == len(read(out / "curated"))
    assert stats["rejected"] == sum(v[2] for v in EXPECTED_FILES.values()) == len(read(out / "rejects"))
    assert stats["details"]["converted"] + stats["rejected"] == records
    assert json.loads((out / "stats.json").read_text())["out"] == stats["out"]


def test_ingest_detects_the_format_of_each_file(ingested):
    _, stats = ingested
    formats = {f["relative"]: f["format"] for f in stats["details"]["files"]}
    assert formats == {
        "alpaca.json": "alpaca",
        "alpaca_near_duplicates.jsonl": "alpaca",
        "hh_rlhf.jsonl.gz": "hh_rlhf",
        "kto.jsonl": "kto",
        "oasst_messages.parquet": "oasst_flat",
        "oasst_tree.jsonl": "oasst_tree",
        "openai_chat.jsonl": "openai",
        "preference_ranked.jsonl": "ranked_responses",
        "prompt_chosen_rejected.jsonl": "prompt_chosen_rejected",
        "sharegpt_preference.json": "sharegpt_preference",
        "sharegpt_tools.jsonl": "sharegpt",
        "unknown_format.jsonl": None,
    }


def test_ingest_rejects_name_file_line_and_reason(ingested):
    out, _ = ingested
    rejects = {(r["source_file"], r["line"]): r for r in read(out / "rejects")}
    expect = {
        ("openai_chat.jsonl", 5): "unknown_role",
        ("openai_chat.jsonl", 6): "empty_content",
        ("openai_chat.jsonl", 7): "invalid_json",
        ("openai_chat.jsonl", 8): "not_an_object",
        ("openai_chat.jsonl", 9): "bad_utf8",
        ("sharegpt_tools.jsonl", 3): "unknown_role",
        ("preference_ranked.jsonl", 2): "no_preference_pair",
        ("unknown_format.jsonl", 1): "unknown_format",
        ("unknown_format.jsonl", 2): "unknown_format",
        ("oasst_messages.parquet", 3): "oasst_review_failed",
        ("oasst_messages.parquet", 4): "oasst_orphan",
    }
    for key, reason in expect.items():
        assert rejects[key]["reason"] == reason, (key, rejects[key])
    for r in rejects.values():
        assert r["stage"] == "ingest"
        assert r["detail"].startswith(f"{r['source_file']}:{r['line']}: ")
        assert r["raw"] is not None
    assert "robot" in rejects[("openai_chat.jsonl", 5)]["detail"]
    assert rejects[("openai_chat.jsonl", 9)]["raw"].endswith('"caf\ufffd"}]}')


def test_ingest_rows_are_canonical(ingested):
    out, _ = ingested
    rows = read(out / "curated")
    by_format = {}
    for r in rows:
        by_format.setdefault(r["format"], []).append(r)
        assert r["id"] and r["text"].strip() and r["source"] == "sample_data"
    assert len({r["id"] for r in rows}) == len(rows)
    tool_row = next(r for r in by_format["sharegpt"] if r["tools"])
    call = next(m for m in tool_row["messages"] if m["tool_calls"])
    assert call["role"] == "assistant" and call["tool_calls"][0]["name"] == "convert_currency"
    assert json.loads(call["tool_calls"][0]["arguments"]) == {"amount": 100, "from": "USD", "to": "EUR"}
    assert {r["kind"] for r in by_format["ranked_responses"]} == {"preference"}
    assert [r["label"] for r in sorted(by_format["kto"], key=lambda r: r["line"])] == [True, False]
    assert all(r["chosen"] and r["rejected"] for r in by_format["hh_rlhf"])


def test_normalize_then_exact_dedup(spark, cfg, ingested, tmp_path):
    out, stats = ingested
    norm = run_stage("normalize", normalize.run, str(out / "curated"), str(tmp_path / "n"), cfg, spark=spark)
    assert norm["in"] == norm["out"] == stats["out"] and norm["rejected"] == 0
    assert all(len(r["norm_hash"]) == 32 for r in read(tmp_path / "n" / "curated"))
    dd = run_stage(
        "exact_dedup", exact_dedup.run, str(tmp_path / "n" / "curated"), str(tmp_path / "d"), cfg, spark=spark
    )
    assert dd["rejected_by_reason"] == {"exact_duplicate": 2}
    assert dd["in"] == dd["out"] + dd["rejected"]
    survivors = {r["id"]: r for r in read(tmp_path / "d" / "curated")}
    for rej in read(tmp_path / "d" / "rejects"):
        assert rej["stage"] == "exact_dedup" and rej["dup_of"] in survivors
        kept = survivors[rej["dup_of"]]
        assert kept["norm_hash"] == rej["norm_hash"]
        # "first" keeps the earliest occurrence in the input
        assert (kept["source_file"], kept["line"]) < (rej["source_file"], rej["line"])


def test_exact_dedup_survivor_does_not_depend_on_partitioning(spark, cfg, tmp_path):
    rows = [
        {"id": f"r{i}", "text": f"Same  text {i % 3}!", "source_file": f"f{i % 4}.jsonl", "line": i}
        for i in range(40)
    ]
    df = spark.createDataFrame(rows)
    results = []
    for parts in (1, 7):
        src = tmp_path / f"in{parts}"
        df.repartition(parts).write.parquet(str(src))
        dd = run_stage(
            "exact_dedup", exact_dedup.run, str(src), str(tmp_path / f"out{parts}"), cfg, spark=spark
        )
        assert dd["out"] == 3 and dd["rejected"] == 37
        results.append(sorted(r["id"] for r in read(tmp_path / f"out{parts}" / "curated")))
    # "first" = earliest (source_file, line): per text group the lowest i with i % 4 == 0
    assert results[0] == results[1] == ["r0", "r4", "r8"]


def test_exact_dedup_keep_longest(spark, tmp_path):
    cfg = load_config({"exact_dedup": {"keep": "longest"}, "spark": {"master": "local[2]"}})
    rows = [
        {"id": "a", "text": "hello world", "source_file": "f", "line": 1},
        {"id": "b", "text": "Hello,   world!!!", "source_file": "f", "line": 2},
    ]
    spark.createDataFrame(rows).write.parquet(str(tmp_path / "in"))
    run_stage("exact_dedup", exact_dedup.run, str(tmp_path / "in"), str(tmp_path / "out"), cfg, spark=spark)
    assert [r["id"] for r in read(tmp_path / "out" / "curated")] == ["b"]
    assert [(r["id"], r["dup_of"]) for r in read(tmp_path / "out" / "rejects")] == [("a", "b")]


def test_ingest_from_s3a_and_write_to_s3(spark, cfg, sample_data, s3_bucket, s3_server):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server)
    for name in ("alpaca.json", "hh_rlhf.jsonl.gz", "oasst_messages.parquet", "openai_chat.jsonl"):
        client.upload_file(str(sample_data / name), s3_bucket, f"lake/raw/{name}")
    out = f"s3://{s3_bucket}/lake/curated/run1/ingest"
    stats = run_stage("ingest", ingest.run, f"s3a://{s3_bucket}/lake/raw", out, cfg, spark=spark)
    expect = [
        EXPECTED_FILES[n]
        for n in ("alpaca.json", "hh_rlhf.jsonl.gz", "oasst_messages.parquet", "openai_chat.jsonl")
    ]
    assert stats["out"] == sum(e[1] for e in expect)
    assert stats["rejected"] == sum(e[2] for e in expect)
    keys = [
        o["Key"]
        for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/curated/run1/ingest/")["Contents"]
    ]
    assert "lake/curated/run1/ingest/stats.json" in keys
    assert any(k.startswith("lake/curated/run1/ingest/curated/part-") for k in keys)
    # the next stage reads its input back from S3
    norm = run_stage(
        "normalize",
        normalize.run,
        storage.join(out, "curated"),
        f"s3://{s3_bucket}/lake/curated/run1/normalize",
        cfg,
        spark=spark,
    )
    assert norm["in"] == norm["out"] == stats["out"]
