"""The product as deployed: ``scripts/live.py up`` (what ``make up`` runs) on a free port in a fresh
``AIRFLOW_HOME``, torn down with ``down`` at the end of the session (one stack for every live test). Skipped with ``-m "not live"``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import live  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """The live stack (real services, whole chain, browser; ~6 minutes on 2 cores) runs in
    ``make test``. Locally ``LLMOPS_SKIP_LIVE=1`` (or ``-m "not live"``) skips it; in CI
    (``CI=true``) it always runs."""
    if os.environ.get("LLMOPS_SKIP_LIVE") != "1" or os.environ.get("CI", "").lower() == "true":
        return
    skip = pytest.mark.skip(reason="LLMOPS_SKIP_LIVE=1: live stack tests skipped (make test-live runs them)")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


#: where the browser test keeps its screenshots (git-ignored; CI keeps it as an artifact)
ARTIFACTS = Path(os.environ.get("LLMOPS_TEST_ARTIFACTS", REPO / ".artifacts"))


class Stack:
    def __init__(self, home: Path, port: int):
        self.home, self.port = home, port
        self.base = f"http://127.0.0.1:{port}"
        self.env = live.read_env(home)

    def token(self) -> str:
        return live.token(self.base, self.home)

    def api(self, path: str, body: dict | None = None, method: str = "GET", attempts: int = 4):
        """One REST call; a loaded machine may time a request out: reads are retried."""
        for attempt in range(attempts):
            try:
                return live.api(self.base, path, self.token(), body=body, method=method)
            except (TimeoutError, urllib.error.URLError) as exc:
                if method != "GET" or attempt == attempts - 1 or isinstance(exc, urllib.error.HTTPError):
                    raise
                time.sleep(5)

    def runs(self, dag_id: str) -> list[dict]:
        return self.api(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=50")["dag_runs"]

    def wait_run(self, dag_id: str, pick, timeout: float) -> dict:
        """The first run ``pick`` selects, once finished; fails with the task states if it failed."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                run = next((r for r in self.runs(dag_id) if pick(r)), None)
            except (urllib.error.URLError, OSError):
                run = None
            if run and run["state"] in ("success", "failed"):
                states = self.task_states(dag_id, run["dag_run_id"])
                assert run["state"] == "success", f"{dag_id} {run['dag_run_id']} failed: {states}"
                return run
            time.sleep(3)
        run = next((r for r in self.runs(dag_id) if pick(r)), None)
        states = self.task_states(dag_id, run["dag_run_id"]) if run else {}
        raise AssertionError(f"no finished {dag_id} run in {timeout:.0f}s: {run}; task states {states}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t["state"] for t in tis}

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(p.read_text() for p in sorted(folder.glob("attempt=*.log")))

    def s3(self):
        """A boto3 client of make up's S3 server (the registry bucket llmops-adapters)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

    def lineage_events(self) -> list[dict]:
        path = self.home / "openlineage" / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    port = live.free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(home), "LLMOPS_PROGRESS_SECONDS": "5"}
    for key in [k for k in env if k.startswith("AIRFLOW__")]:  # the test session's settings stay out
        env.pop(key)
    cmd = [sys.executable, str(REPO / "scripts" / "live.py")]
    up = subprocess.run(
        [*cmd, "up", "--port", str(port), "--timeout", "900"], env=env, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert f"Airflow UI: http://127.0.0.1:{port}" in up.stdout and "login: admin / " in up.stdout
    s = Stack(home, port)
    try:
        yield s
    finally:
        pids = [int(p.read_text()) for p in (home / "run").glob("*.pid")]
        down = subprocess.run([*cmd, "down"], env=env, capture_output=True, text=True)
        assert down.returncode == 0, down.stderr
        assert pids and not [p for p in pids if live.pid_alive(p)], "make down left processes running"
