"""curate_dataset with semantic_dedup on (nightly Qdrant mode), two runs with dag.test():
night 1 removes a reworded duplicate and publish fills the index; night 2 rejects a
reworded copy of a record published on night 1."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.semantic_cases import reworded_pairs

pytestmark = [pytest.mark.dag, pytest.mark.spark, pytest.mark.slow]
CONFIG = {
    "spark": {"master": "local[2]", "shuffle_partitions": 2},
    # only the stages this test is about (the others have their own DAG tests): ingest -> semantic_dedup -> publish
    "normalize": {"enabled": False},
    "exact_dedup": {"enabled": False},
    "near_dedup": {"enabled": False},
    "pii": {"enabled": False},
    "filters": {"enabled": False},
    "quality": {"enabled": False},
    "validate": {"enabled": False},
    "semantic_dedup": {
        "enabled": True,
        "threshold": 0.85,
        "clustering": "hyperplanes",
        "index": {"enabled": True},
    },
}


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    return DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]


def run(dag, src, out):
    dr = dag.test(run_conf={"source_uri": str(src), "output_uri": str(out), "config": CONFIG})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states
    vdir = out / "versions" / (out / "_latest").read_text().strip()
    return vdir, json.loads((vdir / "manifest.json").read_text())


def write(folder, records):
    folder.mkdir(parents=True)
    (folder / "alpaca.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return folder


def test_nightly_semantic_dedup_across_two_runs(dag, shared_datasets, tmp_path):
    from include.semantic_index import QdrantIndex

    alpaca = json.loads((shared_datasets / "llamafactory/alpaca_en_demo.json").read_text())
    adams, adams2, sing, sing2 = reworded_pairs(alpaca)
    out = tmp_path / "dataset"
    vdir, m = run(dag, write(tmp_path / "night1", [adams, adams2, sing, alpaca[0], alpaca[1]]), out)
    sd = m["stages"]["semantic_dedup"]
    assert m["accounting"]["ok"] and sd["enabled"] is True
    assert (sd["in"], sd["out"], sd["rejected_by_reason"]) == (5, 4, {"semantic_duplicate": 1})
    night1 = pq.read_table(vdir / "curated").to_pylist()
    assert len(night1) == 4 and not any("Summarize the passage below" in r["text"] for r in night1)
    rejected = pq.read_table(vdir / "rejects" / "semantic_dedup").to_pylist()
    assert [r["reason"] for r in rejected] == [
        "semantic_duplicate"
    ] and "Summarize the passage below" in rejected[0]["text"]
    # publish copied the embeddings into the version and, after its commit, upserted them
    assert pq.read_table(vdir / "embeddings").num_rows == 4
    index = QdrantIndex(url=None, path=str(out / "_semantic_index"), collection="curated_records", dim=384)
    assert index.count() == 4
    index.close()

    vdir2, m2 = run(dag, write(tmp_path / "night2", [sing2, alpaca[2]]), out)
    sd2 = m2["stages"]["semantic_dedup"]
    assert (sd2["in"], sd2["out"], sd2["rejected_by_reason"]) == (2, 1, {"semantic_duplicate": 1})
    sing_id = next(r["id"] for r in night1 if "past tense of the verb" in r["text"])
    rej = pq.read_table(vdir2 / "rejects" / "semantic_dedup").to_pylist()
    assert [(r["dup_of"], r["reason"]) for r in rej] == [(sing_id, "semantic_duplicate")]
    assert f"({vdir.name})" in rej[0]["detail"]
    index = QdrantIndex(url=None, path=str(out / "_semantic_index"), collection="curated_records", dim=384)
    assert index.count() == 5  # night 2's one new record joined the index
    index.close()
