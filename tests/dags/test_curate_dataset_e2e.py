"""curate_dataset run for real with dag.test(): local Spark, SQLite Airflow."""

from __future__ import annotations

import json

import pytest

from tests.spark.test_stages import EXPECTED_FILES

pytestmark = [pytest.mark.dag, pytest.mark.spark]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    return DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]


def _states(dag_run) -> dict:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_end_to_end_counts_and_accounting(dag, sample_data, tmp_path):
    out = tmp_path / "out"
    config = {"spark": {"master": "local[2]", "shuffle_partitions": 4}, "pii": {"enabled": False}}
    dr = dag.test(run_conf={"source_uri": str(sample_data), "output_uri": str(out), "config": config})
    assert str(dr.state) == "success", _states(dr)
    manifests = list(out.glob("_staging/*/manifest.json"))
    assert len(manifests) == 1
    m = json.loads(manifests[0].read_text())
    acc = m["accounting"]
    records = sum(v[0] for v in EXPECTED_FILES.values())
    rows = sum(v[1] for v in EXPECTED_FILES.values())
    rejected = sum(v[2] for v in EXPECTED_FILES.values())
    assert acc["ok"] and acc["errors"] == []
    assert acc["source_records"] == records
    assert acc["records_rejected_at_ingest"] == rejected
    assert acc["canonical_rows"] == rows
    assert acc["curated_rows"] == rows - 2  # two exact duplicates in the sample data
    assert acc["canonical_rows"] == acc["curated_rows"] + acc["rows_rejected_after_ingest"]
    st = m["stages"]
    assert st["exact_dedup"]["rejected_by_reason"] == {"exact_duplicate": 2}
    assert st["pii"]["enabled"] is False and st["pii"]["in"] is None  # disabled: skipped
    assert st["filters"]["in"] == rows - 2  # reads exact_dedup... via near_dedup, skipping pii
    assert st["near_dedup"]["implemented"] is False and "pass-through" in st["near_dedup"]["note"]
    assert m["config"]["pii"] == {"enabled": False} and len(m["config_hash"]) == 16
    assert {f["relative"] for f in m["input_files"]} == set(EXPECTED_FILES)
    assert all(f["size"] > 0 and f["mtime"] for f in m["input_files"])
    assert m["outputs"]["curated"].endswith("/publish/curated")


def test_invalid_config_fails_first_task_and_runs_nothing(dag, sample_data, tmp_path):
    out = tmp_path / "out"
    dr = dag.test(run_conf={"source_uri": str(sample_data), "output_uri": str(out),
                            "config": {"normalize": {"unicode_form": "NFX"}}})
    states = _states(dr)
    assert str(dr.state) == "failed"
    assert states["prepare_run"] == "failed"
    assert all(s in ("upstream_failed", "None", "skipped") for t, s in states.items() if t != "prepare_run"), states
    assert not out.exists()
