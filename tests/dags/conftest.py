"""Fixtures shared by the DAG tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def default_published(airflow_db, tmp_path_factory):
    """curate_dataset run once with ``dag.test()`` on the bundled sample data, default config
    (local[2]): ``out`` (the output folder), ``version_dir`` (the published version), ``run_id``
    and ``conf``. Tests only read it (the e2e test checks its manifest and reruns it, which
    publishes nothing; the report test checks its report; the cluster test compares its own
    output with it)."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import SAMPLE_DATA
    from tests.dags.test_curate_dataset_e2e import SPARK
    from tests.dags.test_dagbag import DAGS

    out = tmp_path_factory.mktemp("default-curation")
    dag = DagBag(dag_folder=str(DAGS)).dags["curate_dataset"]
    conf = {"source_uri": str(SAMPLE_DATA), "output_uri": str(out), "config": {"spark": SPARK}}
    dr = dag.test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states
    version_dir = out / "versions" / (out / "_latest").read_text().strip()
    return SimpleNamespace(out=out, version_dir=version_dir, run_id=dr.run_id, conf=conf)
