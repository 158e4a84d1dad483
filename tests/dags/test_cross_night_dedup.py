"""curate_dataset on two nights with dag.test(): decontamination against the real GSM8K and
HumanEval files, and the cross-night dedup index. Night 1 removes the planted benchmark items
and publish fills the index; night 2 re-sends 30 % of night 1 (half verbatim, half lightly
edited) beside new records: exactly the re-sent ones are rejected as duplicates of night 1's
published version, and the manifests name the benchmarks and the index version used."""

from __future__ import annotations

import gzip
import hashlib
import json

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.dag, pytest.mark.spark, pytest.mark.slow]


def config(bench) -> dict:
    return {
        "spark": {"master": "local[2]", "shuffle_partitions": 2},
        # the stages this test is about: ingest -> normalize -> exact_dedup -> decontaminate -> near_dedup -> publish
        **{s: {"enabled": False} for s in ("pii", "filters", "quality", "validate")},
        "decontaminate": {
            "benchmarks": [
                {"name": "gsm8k", "uri": str(bench / "gsm8k_test.jsonl"), "preset": "gsm8k"},
                {"name": "humaneval", "uri": str(bench / "HumanEval.jsonl.gz"), "preset": "humaneval"},
            ]
        },
        "near_dedup": {"index": {"enabled": True}},
    }


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    return DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]


def run(dag, src, out, cfg):
    dr = dag.test(run_conf={"source_uri": str(src), "output_uri": str(out), "config": cfg})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states
    vdir = out / "versions" / (out / "_latest").read_text().strip()
    return vdir, json.loads((vdir / "manifest.json").read_text())


def write(folder, name, records):
    folder.mkdir(parents=True)
    (folder / name).write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return folder


def test_two_nights_decontaminated_and_deduplicated_against_published(dag, shared_datasets, tmp_path):
    bench = shared_datasets / "eval-benchmarks"
    gsm = [json.loads(x) for x in (bench / "gsm8k_test.jsonl").read_text().splitlines()]
    he = [json.loads(x) for x in gzip.decompress((bench / "HumanEval.jsonl.gz").read_bytes()).splitlines()]
    alpaca = json.loads((shared_datasets / "llamafactory/alpaca_en_demo.json").read_text())
    long_ones = [r for r in alpaca if len(r["output"].split()) > 80]
    night1 = long_ones[:40]
    planted = [
        {
            "instruction": "Solve this word problem.",
            "input": gsm[11]["question"],
            "output": gsm[11]["answer"],
        },
        {
            "instruction": "Complete the function.",
            "input": he[5]["prompt"],
            "output": he[5]["canonical_solution"],
        },
    ]
    cfg, out = config(bench), tmp_path / "dataset"
    vdir1, m1 = run(dag, write(tmp_path / "n1", "night1.jsonl", night1 + planted), out, cfg)
    dc = m1["stages"]["decontaminate"]
    assert dc["rejected_by_reason"] == {"contamination": 2} and m1["accounting"]["ok"]
    details = sorted(
        r["detail"].split(":")[0] for r in pq.read_table(vdir1 / "rejects" / "decontaminate").to_pylist()
    )
    assert details == ["gsm8k item 11", "humaneval item HumanEval/5"]
    lineage = {b["name"]: b for b in m1["lineage"]["benchmarks"]}
    assert lineage["gsm8k"]["sha256"] == hashlib.sha256((bench / "gsm8k_test.jsonl").read_bytes()).hexdigest()
    assert m1["lineage"]["dedup_index"]["versions"] == []  # the first night had nothing to compare with
    published1 = {r["text"]: r["id"] for r in pq.read_table(vdir1 / "curated").to_pylist()}
    assert len(published1) == m1["accounting"]["curated_rows"] >= 38
    segs = list((out / "_dedup_index" / "_segments").iterdir())
    assert [p.stem for p in segs] == [vdir1.name]  # publish indexed the committed version

    resent = [r for r in night1 if any(r["output"] in t for t in published1)][:12]  # 30 % of night 1
    edited = [{**r, "output": r["output"].rsplit(" ", 2)[0] + " and that is all."} for r in resent[6:]]
    fresh = long_ones[40:60]
    vdir2, m2 = run(dag, write(tmp_path / "n2", "night2.jsonl", fresh + resent[:6] + edited), out, cfg)
    by_reason = {}
    for s in ("exact_dedup", "near_dedup"):
        for r in pq.read_table(vdir2 / "rejects" / s).to_pylist():
            by_reason.setdefault(r["reason"], []).append(r)
    exact = by_reason["exact_duplicate_of_published"]
    near = by_reason["near_duplicate_of_published"]
    assert len(exact) == 6 and len(near) == 6
    resent_texts = {r["output"] for r in resent[:6]}
    assert all(any(t in r["text"] for t in resent_texts) for r in exact)
    edited_texts = {r["output"] for r in edited}
    assert all(any(t in r["text"] for t in edited_texts) for r in near)
    for r in exact + near:  # dup_of is the night-1 published record, detail names its version
        assert r["dup_of"] in published1.values() and vdir1.name in r["detail"]
    kept2 = pq.read_table(vdir2 / "curated").to_pylist()
    assert len(kept2) == 20 and all(any(f["output"] in r["text"] for f in fresh) for r in kept2)
    idx = m2["lineage"]["dedup_index"]
    assert idx["versions"] == [vdir1.name] and idx["rows"] == len(published1) and idx["digest"]
    assert sorted(p.stem for p in (out / "_dedup_index" / "_segments").iterdir()) == sorted(
        [vdir1.name, vdir2.name]
    )
