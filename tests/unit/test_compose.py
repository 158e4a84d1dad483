"""docker-compose.yaml as Compose itself resolves it (``docker compose config``), and, where a
Docker daemon runs and images can be built, the stack for real (``docker compose up --wait``).

``.ci/run`` installs Debian's ``docker-compose`` when neither ``docker compose`` nor
``docker-compose`` is on the machine; without either the config tests fail, naming the package.
The smoke test skips with the reason when no daemon answers (these machines reach no container
registry).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_training_image import _pins

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SPARK_SERVICES = ("spark-master", "spark-worker")


def compose_command() -> list[str] | None:
    """``docker compose`` (the v2 plugin) or ``docker-compose``; None when neither runs."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) and subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
            return cmd
    return None


@pytest.fixture(scope="module")
def resolved() -> dict:
    cmd = compose_command()
    if cmd is None:  # a test dependency like chromium: .ci/run installs it
        pytest.fail(
            "neither `docker compose` nor `docker-compose` found: apt install docker-compose (.ci/run does)"
        )
    out = subprocess.run(
        [*cmd, "-f", str(REPO / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")},
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_one_pinned_project_image_runs_airflow_and_spark(resolved):
    services = resolved["services"]
    project = {services[s]["image"] for s in AIRFLOW_SERVICES + SPARK_SERVICES + ("airflow-init",)}
    assert len(project) == 1, project
    dockerfile = (REPO / "Dockerfile").read_text()
    assert services["airflow-init"]["build"]["dockerfile"] == "Dockerfile"
    airflow = _pins(REPO / "requirements.txt")["apache-airflow"]
    assert f"FROM apache/airflow:{airflow}-python3.11" in dockerfile  # the pinned Airflow
    assert "-r /requirements.txt" in dockerfile and "openjdk-17" in dockerfile  # pyspark + UDF libraries
    for name in SPARK_SERVICES:  # pyspark's own spark-class: the cluster runs the pinned Spark
        command = " ".join(services[name]["command"])
        assert "exec spark-class org.apache.spark.deploy." in command and "/opt/spark" not in command
    for name, svc in services.items():  # every image pinned to a version, none floating
        tag = svc["image"].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] not in ("latest", ""), f"{name}: {svc['image']}"


def test_init_completes_before_the_services_and_everything_has_a_healthcheck(resolved):
    services = resolved["services"]
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["minio-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["spark-worker"]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "scripts/live.py prepare" in init
    long_running = [n for n in services if not n.endswith("-init")]
    assert [n for n in long_running if "healthcheck" not in services[n]] == []


def test_shared_settings_are_set_once_for_every_airflow_service(resolved):
    from cryptography.fernet import Fernet

    envs = [resolved["services"][n]["environment"] for n in AIRFLOW_SERVICES + ("airflow-init",)]
    keys = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW_CONN_SPARK_CLUSTER",
        "LLMOPS_SPARK_CONN_ID",
        "LLMOPS_REGISTRY_URI",
    )
    for key in keys:
        assert len({env[key] for env in envs}) == 1, key
    env = envs[0]
    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())  # a valid key
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    conn = json.loads(env["AIRFLOW_CONN_SPARK_CLUSTER"])
    assert (conn["conn_type"], conn["host"], conn["port"]) == ("spark", "spark://spark-master", 7077)
    assert env["LLMOPS_SPARK_CONN_ID"] == "spark_cluster"
    assert (
        env["LLMOPS_OUTPUT_URI"].startswith("s3://lakehouse/")
        and env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    )
    init = " ".join(resolved["services"]["minio-init"]["command"])
    assert "mc mb --ignore-existing lake/lakehouse lake/adapters" in init
    assert env["LLMOPS_REGISTRY_URI"].startswith("s3://adapters/")


def test_the_spark_connection_variable_is_the_pipeline_default(monkeypatch):
    from include.config import SPARK_CONN_ENV, load_config

    monkeypatch.delenv(SPARK_CONN_ENV, raising=False)
    assert load_config({}).spark.conn_id is None  # local mode without it
    monkeypatch.setenv(SPARK_CONN_ENV, "spark_cluster")
    assert load_config({}).spark.conn_id == "spark_cluster"
    assert load_config({"spark": {"conn_id": "other"}}).spark.conn_id == "other"  # a run's config wins


def _daemon_reason() -> str | None:
    if compose_command() is None:
        return "no docker compose / docker-compose"
    if shutil.which("docker") is None:
        return "no docker CLI, so no Docker daemon to start containers with"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        return f"no Docker daemon answers (`docker info`: {info.stderr.strip().splitlines()[-1:]})"
    if os.environ.get("LLMOPS_COMPOSE_SMOKE") != "1":
        return "set LLMOPS_COMPOSE_SMOKE=1 to build the image and start the stack (pulls base images)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_daemon_reason() is not None, reason=_daemon_reason() or "")
def test_compose_up_smoke():
    """Build, start and wait for every healthcheck; the API answers healthy; then tear down."""
    cmd = [*compose_command(), "-p", "llmops-smoke", "-f", str(REPO / "docker-compose.yaml")]
    try:
        up = subprocess.run([*cmd, "up", "-d", "--build", "--wait"], cwd=REPO, capture_output=True, text=True)
        assert up.returncode == 0, up.stderr[-4000:]
        health = subprocess.run(
            [
                *cmd,
                "exec",
                "-T",
                "airflow-apiserver",
                "curl",
                "-sf",
                "http://localhost:8080/api/v2/monitor/health",
            ],
            capture_output=True,
            text=True,
        )
        status = json.loads(health.stdout)
        assert status["scheduler"]["status"] == "healthy" and status["metadatabase"]["status"] == "healthy"
    finally:
        subprocess.run([*cmd, "down", "-v"], cwd=REPO, capture_output=True)
