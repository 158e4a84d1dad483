"""DAG files stay cheap to parse: each one imported in a fresh interpreter loads no heavy
library (directly or through the plugin and ``include``), and every task shows a doc in the UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.dags.test_dagbag import DAGS, HEAVY  # libraries a DAG file must not load at parse time

_PROBE = """
import json, runpy, sys
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))
"""


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_file_loads_no_heavy_module(dag_file, airflow_db):
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(DAGS / dag_file), *sorted(HEAVY)],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{dag_file} loads {loaded} at parse time"


def test_every_task_has_a_doc(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    missing = [
        (dag_id, t.task_id)
        for dag_id, dag in bag.dags.items()
        for t in dag.tasks
        if not (t.doc_md or t.doc or getattr(t, "doc_rst", None))
    ]
    assert missing == []
