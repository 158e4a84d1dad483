"""curate_dataset with the quality stage's classifier on, run for real with dag.test()."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.dags.test_cleaning_dag import chat

pytestmark = [pytest.mark.dag, pytest.mark.spark]
SPARK = {"master": "local[2]", "shuffle_partitions": 4}

RECORDS = [
    chat("What is the boiling point of water?", "100 degrees Celsius at sea level."),
    chat("Name a prime number greater than 10.", "11 is a prime number."),
    chat("How many legs does a spider have?", "Eight."),
    chat("Translate 'hello' to French.", "Bonjour."),
]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    return DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]


@pytest.fixture(scope="module")
def tiny_regressor(tmp_path_factory):
    from scripts.tiny_model import build_tiny_classifier

    return str(build_tiny_classifier(tmp_path_factory.mktemp("tiny-edu-clf"), RECORDS * 10, num_labels=1))


def test_curate_dataset_with_classifier_quality(dag, tmp_path, tiny_regressor):
    src = tmp_path / "raw"
    src.mkdir()
    (src / "chats.jsonl").write_text("\n".join(RECORDS) + "\n")
    out = tmp_path / "out"
    # only ingest -> quality -> validate -> publish run Spark (each stage is a Spark job: keep the test short)
    config = {
        "spark": SPARK,
        **{s: {"enabled": False} for s in ("normalize", "exact_dedup", "near_dedup", "pii", "filters")},
        "quality": {"classifier": {"enabled": True, "model_path": tiny_regressor, "threshold": -1000.0}},
    }
    dr = dag.test(run_conf={"source_uri": str(src), "output_uri": str(out), "config": config})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states
    vdir = out / "versions" / (out / "_latest").read_text().strip()
    m = json.loads((vdir / "manifest.json").read_text())
    assert m["accounting"]["ok"]
    q = m["stages"]["quality"]
    assert q["in"] == q["out"] == 4 and q["rejected"] == 0
    assert m["config"]["quality"]["classifier"]["model_path"] == tiny_regressor
    rows = pq.read_table(str(vdir / "curated")).to_pylist()
    assert len(rows) == 4 and all(0.0 <= r["quality"] <= 1.0 for r in rows)
    assert all("score" in json.loads(r["signals"])["classifier"] for r in rows)
