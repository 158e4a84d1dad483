"""curate_dataset run for real with dag.test(): local Spark, SQLite Airflow."""

from __future__ import annotations

import json

import pytest

from tests.spark.test_stages import EXPECTED_FILES

pytestmark = [pytest.mark.dag, pytest.mark.spark]
SPARK = {"master": "local[2]", "shuffle_partitions": 4}


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    return DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]


def _asset_events(run_id: str) -> list[dict]:
    """Extras of the curated_dataset Asset events the run emitted (from Airflow's database)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "curated_dataset", AssetEvent.source_run_id == run_id)
        ).all()
    return [r[0] for r in rows]


def _states(dag_run) -> dict:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_end_to_end_counts_accounting_publish_and_rerun(dag, default_published):
    """The default run on the sample data (the shared fixture), then the same run again."""
    out, conf = default_published.out, default_published.conf
    version = (out / "_latest").read_text().strip()
    m = json.loads((out / "versions" / version / "manifest.json").read_text())
    acc = m["accounting"]
    records = sum(v[0] for v in EXPECTED_FILES.values())
    rows = sum(v[1] for v in EXPECTED_FILES.values())
    rejected = sum(v[2] for v in EXPECTED_FILES.values())
    assert acc["ok"] and acc["errors"] == []
    assert acc["source_records"] == records
    assert acc["records_rejected_at_ingest"] == rejected
    assert acc["canonical_rows"] == rows
    assert acc["curated_rows"] == acc["canonical_rows"] - acc["rows_rejected_after_ingest"]
    assert m["stages"]["exact_dedup"]["rejected_by_reason"]["exact_duplicate"] == 2
    assert m["stages"]["near_dedup"]["rejected_by_reason"] == {"near_duplicate": 1}
    nd = m["stages"]["near_dedup"]["details"]  # what the stage measured survives publish
    assert (nd["bands"], nd["rows"], nd["removed"]) == (17, 7, 1)
    assert "files" not in m["stages"]["ingest"]["details"]
    assert m["stages"]["near_dedup"]["enabled"] is True
    # quality without a scorer (the default) is skipped: the manifest says so
    assert m["stages"]["quality"]["enabled"] is False and m["stages"]["quality"]["in"] is None
    assert m["stages"]["pii"]["enabled"] is True and m["stages"]["pii"]["in"] == m["stages"]["pii"]["out"]
    assert m["stages"]["validate"]["in"] == m["stages"]["validate"]["out"]
    assert (
        m["version"] == version and m["config"]["quality"]["enabled"] is False and len(m["config_hash"]) == 16
    )
    assert {f["relative"] for f in m["input_files"]} == set(EXPECTED_FILES)
    assert all(f["size"] > 0 and f["mtime"] for f in m["input_files"])
    vdir = out / "versions" / version
    assert list((vdir / "curated").glob("*.parquet")) and (vdir / "rejects" / "ingest").is_dir()
    assert (vdir / "data_docs" / "index.html").is_file()
    assert not any((out / "_staging").iterdir())  # the run's staging folder is cleaned up
    events = _asset_events(default_published.run_id)
    assert [e["version"] for e in events] == [version]
    assert events[0]["rows"] == acc["curated_rows"] and events[0]["curated"].endswith(f"{version}/curated")
    # unchanged input and config: every stage skips, nothing new is published
    dr2 = dag.test(run_conf=conf)
    states = _states(dr2)
    assert str(dr2.state) == "success", states
    assert states["ingest"] == states["publish"] == "skipped" and states["finalize_run"] == "success"
    assert (out / "_latest").read_text().strip() == version
    assert [p.name for p in (out / "versions").iterdir()] == [version]
    assert _asset_events(dr2.run_id) == []  # nothing new published: no event for finetune_adapter


def _published(out) -> tuple[dict, set]:
    import pyarrow.parquet as pq

    vdir = out / "versions" / (out / "_latest").read_text().strip()
    curated = {r["id"]: r["text"] for r in pq.read_table(vdir / "curated").to_pylist()}
    rejects = {
        (r["id"], r["stage"], r["reason"], r["detail"])
        for d in (vdir / "rejects").iterdir()
        for r in pq.read_table(d).to_pylist()
    }
    return curated, rejects


def test_stages_in_process_and_in_subprocesses_publish_the_same_rows(dag, sample_data, tmp_path):
    """spark.in_process (the default: every stage on the task process's Spark session) and
    in_process: false (``python -m spark_jobs.<stage>`` per stage) publish identical rows and
    rejects."""
    runs = {}
    # a subprocess costs a JVM start each: both modes run ingest (rows and ingest rejects), filters
    # (a decide() stage: rejects with reason and detail) and publish; the others are off
    off = {
        s: {"enabled": False}
        for s in ("normalize", "exact_dedup", "near_dedup", "pii", "quality", "validate")
    }
    for in_process in (True, False):
        out = tmp_path / f"in_process_{in_process}"
        config = {"spark": {**SPARK, "in_process": in_process}, **off}
        dr = dag.test(run_conf={"source_uri": str(sample_data), "output_uri": str(out), "config": config})
        assert str(dr.state) == "success", _states(dr)
        runs[in_process] = _published(out)
    assert runs[True] == runs[False]
    curated, rejects = runs[True]
    assert len(curated) > 0 and len(rejects) > 0


def test_failing_gate_stops_before_publish(dag, sample_data, tmp_path):
    out = tmp_path / "out"
    dr = dag.test(
        run_conf={
            "source_uri": str(sample_data),
            "output_uri": str(out),
            "config": {
                "spark": SPARK,
                "validate": {"min_rows": 10_000},
                # what runs before the gate is covered elsewhere: only ingest + normalize feed it
                **{s: {"enabled": False} for s in ("exact_dedup", "near_dedup", "pii", "filters", "quality")},
            },
        }
    )
    states = _states(dr)
    assert str(dr.state) == "failed"
    assert states["validate"] == "failed" and states["publish"] == "upstream_failed", states
    assert not (out / "_latest").exists() and not (out / "versions").exists()
    run_dir = next((out / "_staging").iterdir())
    report = json.loads((run_dir / "validate" / "validation.json").read_text())
    failed = [e for e in report["expectations"] if not e["success"]]
    assert [e["expectation"] for e in failed] == ["expect_table_row_count_to_be_between"]


def test_invalid_config_is_refused_by_the_form_schema(dag, sample_data, tmp_path):
    """The config Param's JSON schema (derived from PipelineConfig) refuses a bad value at trigger."""
    from airflow.sdk.exceptions import ParamValidationError

    out = tmp_path / "out"
    conf = {"source_uri": str(sample_data), "output_uri": str(out)}
    with pytest.raises(ParamValidationError, match="NFX"):
        dag.test(run_conf={**conf, "config": {"normalize": {"unicode_form": "NFX"}}})
    assert not out.exists()


def test_invalid_config_fails_first_task_and_runs_nothing(dag, sample_data, tmp_path):
    """A config the schema lets through but the typed config refuses (a rule across keys)
    fails prepare_run, naming the key; no stage runs."""
    out = tmp_path / "out"
    dr = dag.test(
        run_conf={
            "source_uri": str(sample_data),
            "output_uri": str(out),
            "config": {"quality": {"judge": {"enabled": True}}},
        }
    )
    states = _states(dr)
    assert str(dr.state) == "failed"
    assert states["prepare_run"] == "failed"
    assert all(
        s in ("upstream_failed", "None", "skipped") for t, s in states.items() if t != "prepare_run"
    ), states
    assert not (out / "versions").exists()
