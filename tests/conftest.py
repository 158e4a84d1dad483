"""Shared fixtures: real datasets, one local[2] Spark session, a real S3 server on
127.0.0.1 (moto), an Airflow home with a migrated SQLite database."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(
    os.environ.get("LLMOPS_SHARED_DATASETS", REPO.parent / "shared" / "datasets")
).resolve()
SAMPLE_DATA = REPO / "include" / "sample_data"

# Airflow reads its settings when first imported: point it at a test home first.
_AF_HOME = Path(os.environ.get("LLMOPS_TEST_AIRFLOW_HOME", REPO / ".airflow-test"))
os.environ["AIRFLOW_HOME"] = str(_AF_HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for p in (str(REPO / "plugins"), str(REPO)):
    if p not in sys.path:
        sys.path.insert(0, p)
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys(
        [str(REPO), str(REPO / "plugins"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
)


#: the training tests' session fixtures (tiny Llama, canonical rows and Parquet), for every test module
pytest_plugins = ("tests.training_fixtures",)

# py4j logs from __del__ at interpreter exit, after pytest closed its streams: keep it quiet
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real third-party datasets in ../shared/datasets (see its SOURCES.md)."""
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"real datasets not found at {SHARED_DATASETS}; set LLMOPS_SHARED_DATASETS")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def spark(s3_server):
    """One local[2] Spark session for every Spark test (started after the S3 server so its
    Python workers inherit the S3 endpoint and credentials, as in a real deployment)."""
    from include.config import load_config
    from spark_jobs.common import get_spark

    cfg = load_config({"spark": {"master": "local[2]", "shuffle_partitions": 4}})
    session = get_spark(cfg, "llmops-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible HTTP server (moto) on 127.0.0.1, reached through boto3."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_server):
    import uuid

    import boto3

    name = f"test-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata database in the test Airflow home."""
    _AF_HOME.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    return _AF_HOME


@pytest.fixture(autouse=True)
def _dag_stages_share_the_suite_session(request):
    """DAG tests run their stages in process (``spark.in_process``) on this process's Spark
    session: make it the suite's one (started after the S3 server, so Python workers see it)."""
    if request.node.get_closest_marker("dag") and request.node.get_closest_marker("spark"):
        request.getfixturevalue("spark")
