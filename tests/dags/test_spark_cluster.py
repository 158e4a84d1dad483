"""curate_dataset spark-submitted to a real standalone cluster (master + worker on 127.0.0.1,
started by the test from the pinned pyspark), whatever ``PATH`` is: every Spark stage is an
application on that master whose executors run on the worker, and the published rows and
rejects equal those of the same DAG run in local mode (the ``default_published`` fixture)."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from include.config import STAGES, load_config
from tests.spark_cluster import standalone_cluster

pytestmark = [pytest.mark.dag, pytest.mark.spark, pytest.mark.slow]
#: stages that run in Spark (publish commits in the Airflow task itself)
SPARK_STAGES = [s for s in STAGES if s != "publish"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as c:
        yield c


def _rows(folder) -> list[dict]:
    return pq.read_table(folder).to_pylist() if folder.exists() else []


def _published(vdir) -> tuple[dict, set]:
    curated = {r["id"]: r["text"] for r in _rows(vdir / "curated")}
    rejects = {(r["id"], r["stage"], r["reason"]) for d in (vdir / "rejects").iterdir() for r in _rows(d)}
    return curated, rejects


def test_curate_dataset_on_a_standalone_cluster_equals_local_mode(
    cluster, airflow_db, default_published, sample_data, tmp_path, monkeypatch
):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_CLUSTER",
        json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": cluster.port}),
    )
    # a worker started from a venv without activating it: no spark-submit on PATH
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    spark_cfg = {
        "conn_id": "spark_cluster",
        "shuffle_partitions": 4,
        "driver_memory": "1g",
        "conf": {"spark.executor.memory": "1g", "spark.cores.max": 2},
    }
    out = tmp_path / "cluster"
    dag = DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]
    dr = dag.test(
        run_conf={"source_uri": str(sample_data), "output_uri": str(out), "config": {"spark": spark_cfg}}
    )
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states

    cfg = load_config({})
    enabled = [s for s in SPARK_STAGES if cfg.enabled(s)]
    apps = cluster.master_state()["completedapps"]
    assert sorted(a["name"] for a in apps) == sorted(f"llmops-{s}" for s in enabled)
    assert all(a["state"] == "FINISHED" for a in apps), apps
    worker = cluster.worker_state()
    ran_on_worker = {e["appid"] for e in worker["finishedexecutors"]}
    assert {a["id"] for a in apps} <= ran_on_worker  # executors of every application ran on the worker

    published, published_rejects = _published(out / "versions" / (out / "_latest").read_text().strip())
    local_curated, local_rejects = _published(default_published.version_dir)  # the same DAG in local mode
    assert published == local_curated and len(published) > 0
    assert published_rejects == local_rejects and len(published_rejects) > 0
    assert os.environ["PATH"] == "/usr/bin:/bin"  # the submit path did not need PATH
