"""A real Spark standalone cluster on 127.0.0.1 for tests: one master and one worker, started
from the pinned pyspark's own ``spark-class`` and stopped when the fixture ends."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def spark_class() -> Path:
    spec = importlib.util.find_spec("pyspark")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "spark-class"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
        return json.load(r)


@dataclass
class Cluster:
    master_url: str  # spark://127.0.0.1:PORT
    port: int
    master_ui: str  # http://127.0.0.1:PORT (JSON at /json/)
    worker_ui: str
    logs: Path

    def master_state(self) -> dict:
        return _json(self.master_ui + "/json/")

    def worker_state(self) -> dict:
        return _json(self.worker_ui + "/json/")


def _start(cmd: list[str], log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _wait(check, what: str, log: Path, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f}s; log {log}:\n{log.read_text()[-3000:]}")


@contextmanager
def standalone_cluster(workdir: Path, cores: int = 2, memory: str = "3g"):
    """Master + one worker (``cores``, ``memory``) on 127.0.0.1; yields a :class:`Cluster`."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(workdir)}
    port, ui, wui = free_port(), free_port(), free_port()
    cls = str(spark_class())
    master_log, worker_log = workdir / "master.log", workdir / "worker.log"
    master = _start(
        [
            cls,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        master_log,
        env,
    )
    worker = None
    try:
        cluster = Cluster(
            f"spark://127.0.0.1:{port}", port, f"http://127.0.0.1:{ui}", f"http://127.0.0.1:{wui}", workdir
        )
        _wait(lambda: cluster.master_state().get("status") == "ALIVE", "spark master", master_log)
        worker = _start(
            [
                cls,
                "org.apache.spark.deploy.worker.Worker",
                cluster.master_url,
                "--host",
                "127.0.0.1",
                "--cores",
                str(cores),
                "--memory",
                memory,
                "--webui-port",
                str(wui),
                "--work-dir",
                str(workdir / "work"),
            ],
            worker_log,
            env,
        )
        _wait(lambda: cluster.master_state().get("aliveworkers", 0) >= 1, "spark worker", worker_log)
        yield cluster
    finally:
        if worker is not None:
            _stop(worker)
        _stop(master)
