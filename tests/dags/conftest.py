"""Fixtures shared by the DAG tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def default_published(airflow_db, tmp_path_factory):
    """curate_dataset run once with ``dag.test()`` on the bundled sample data, default config
    (local[2]): the published version's folder. Tests only read it (the report test checks its
    report, the cluster test compares its own output with it)."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import SAMPLE_DATA
    from tests.dags.test_curate_dataset_e2e import SPARK
    from tests.dags.test_dagbag import DAGS

    out = tmp_path_factory.mktemp("default-curation")
    dag = DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]
    dr = dag.test(
        run_conf={"source_uri": str(SAMPLE_DATA), "output_uri": str(out), "config": {"spark": SPARK}}
    )
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states
    return out / "versions" / (out / "_latest").read_text().strip()
