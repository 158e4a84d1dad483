"""decontaminate on local[2]: planted GSM8K / HumanEval items go to rejects with benchmark,
item and overlap; clean rows pass; one benchmark read from S3 as Parquet; stats and lineage."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.config import load_config
from spark_jobs import decontaminate
from spark_jobs.common import run_stage

pytestmark = pytest.mark.spark


def _rows(shared_datasets):
    d = shared_datasets / "eval-benchmarks"
    gsm = [json.loads(x) for x in (d / "gsm8k_test.jsonl").read_text().splitlines()]
    he = [json.loads(x) for x in gzip.decompress((d / "HumanEval.jsonl.gz").read_bytes()).splitlines()]
    alpaca = json.loads((shared_datasets / "llamafactory" / "alpaca_en_demo.json").read_text())
    planted = {
        "p-gsm-100": f"Solve: {gsm[100]['question']}\nassistant: {gsm[100]['answer']}",
        "p-gsm-7": "user: help me\nassistant: " + " ".join(gsm[7]["answer"].split()[:16]),
        "p-he-42": "```python\n"
        + he[42]["prompt"].replace("    ", "\t")
        + he[42]["canonical_solution"]
        + "\n```",
    }
    clean = {f"c-{i}": f"{a['instruction']}\n{a['input']}\n{a['output']}" for i, a in enumerate(alpaca[:40])}
    rows = [
        {"id": k, "text": v, "source_file": "f.jsonl", "line": i}
        for i, (k, v) in enumerate({**planted, **clean}.items())
    ]
    return rows, gsm, he


def test_planted_items_rejected_clean_rows_kept(spark, shared_datasets, s3_bucket, tmp_path):
    rows, _, he = _rows(shared_datasets)
    d = shared_datasets / "eval-benchmarks"
    buf = io.BytesIO()  # HumanEval as Parquet on S3: another format, another filesystem
    pq.write_table(pa.Table.from_pylist(he), buf)
    import boto3

    boto3.client("s3").put_object(Bucket=s3_bucket, Key="bench/humaneval.parquet", Body=buf.getvalue())
    cfg = load_config(
        {
            "spark": {"master": "local[2]", "shuffle_partitions": 3},
            "decontaminate": {
                "benchmarks": [
                    {"name": "gsm8k", "uri": str(d / "gsm8k_test.jsonl"), "preset": "gsm8k"},
                    {"name": "he", "uri": f"s3://{s3_bucket}/bench/humaneval.parquet", "preset": "humaneval"},
                ]
            },
        }
    )
    src = tmp_path / "in"
    spark.createDataFrame(rows).repartition(3).write.parquet(str(src))
    stats = run_stage("decontaminate", decontaminate.run, str(src), str(tmp_path / "out"), cfg, spark=spark)
    curated = pq.read_table(tmp_path / "out" / "curated").to_pylist()
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    assert (stats["in"], stats["out"], stats["rejected"]) == (43, 40, 3)
    assert {r["id"] for r in curated} == {f"c-{i}" for i in range(40)}
    got = {r["id"]: (r["stage"], r["reason"], r["detail"].split(":")[0]) for r in rejects}
    assert got == {
        "p-gsm-100": ("decontaminate", "contamination", "gsm8k item 100"),
        "p-gsm-7": ("decontaminate", "contamination", "gsm8k item 7"),
        "p-he-42": ("decontaminate", "contamination", "he item HumanEval/42"),
    }
    bench = {b["name"]: b for b in stats["details"]["benchmarks"]}
    assert bench["gsm8k"]["rows_rejected"] == 2 and bench["he"]["rows_rejected"] == 1
    assert bench["gsm8k"]["sha256"] == hashlib.sha256((d / "gsm8k_test.jsonl").read_bytes()).hexdigest()
    assert bench["gsm8k"]["records"] == 1319 and bench["he"]["records"] == 164
    assert bench["he"]["sha256"] == hashlib.sha256(buf.getvalue()).hexdigest()
    assert stats["details"]["ngram"] == 13 and stats["rejected_by_reason"] == {"contamination": 3}


def test_no_benchmarks_is_a_pass_through(spark, shared_datasets, tmp_path):
    rows, _, _ = _rows(shared_datasets)
    cfg = load_config({"spark": {"master": "local[2]"}, "decontaminate": {"enabled": True}})
    src = tmp_path / "in"
    spark.createDataFrame(rows[:5]).write.parquet(str(src))
    stats = run_stage("decontaminate", decontaminate.run, str(src), str(tmp_path / "out"), cfg, spark=spark)
    assert (stats["in"], stats["out"], stats["rejected"]) == (5, 5, 0)
    assert stats["note"] == "no benchmarks configured: pass-through"
