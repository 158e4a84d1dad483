"""Stages run outside Airflow: ``python -m spark_jobs.<stage>`` and ``spark-submit``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.spark


def _run(*argv, cwd=REPO, timeout=300) -> subprocess.CompletedProcess:
    """``argv`` run with this repo on the path, its output captured."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_python_m_stage_writes_the_contract(sample_data, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("spark:\n  master: local[1]\ningest:\n  source_name: demo\n")
    out = tmp_path / "ingest"
    proc = _run(
        sys.executable, "-m", "spark_jobs.ingest", "--input", str(sample_data / "*.json"), "--output", str(out),
        "--config", str(cfg),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    # the glob matches alpaca.json and sharegpt_preference.json only
    assert {f["relative"] for f in stats["details"]["files"]} == {"alpaca.json", "sharegpt_preference.json"}
    assert (stats["in"], stats["out"], stats["rejected"]) == (7, 6, 1)
    assert {r["source"] for r in pq.read_table(out / "curated").to_pylist()} == {"demo"}
    assert pq.read_table(out / "rejects").num_rows == 1
    assert "ingest: in=7 out=6 rejected=1" in proc.stdout


def test_spark_submit_runs_the_same_file(sample_data, tmp_path):
    out = tmp_path / "ingest"
    spark_submit = Path(sys.executable).with_name("spark-submit")
    proc = _run(
        str(spark_submit), "--master", "local[1]", str(REPO / "spark_jobs" / "ingest.py"),
        "--input", str(sample_data / "kto.jsonl"), "--output", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["in"], stats["out"], stats["rejected"]) == (3, 2, 1)


def test_bad_config_fails_before_any_work(sample_data, tmp_path):
    proc = _run(
        sys.executable, "-m", "spark_jobs.normalize", "--input", str(sample_data), "--output", str(tmp_path / "o"),
        "--config", '{"normalize": {"lowercase": "sometimes"}}',
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "normalize.lowercase" in proc.stderr
    assert not (tmp_path / "o").exists()
