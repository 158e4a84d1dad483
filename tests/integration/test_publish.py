"""Atomic, idempotent publish of a staged run: local folders and a real S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include import storage
from include.config import STAGES, load_config
from include.publish import CRASH_ENV, current_version, is_committed, publish_run, version_dir
from include.run import AccountingError, RunPaths

REPO = Path(__file__).resolve().parents[2]
CFG = load_config({s: {"enabled": False} for s in ("near_dedup", "pii", "filters", "quality", "validate")})


def _parquet(uri: str, rows: list[dict]) -> None:
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows or [{"id": "x"}]).slice(0, len(rows)), buf)
    storage.write_bytes(storage.join(uri, "part-00000.parquet"), buf.getvalue().to_pybytes())


def stage_run(output_uri: str, run_id: str, *, curated_rows: int = 3, lose_one: bool = False) -> str:
    """A run folder as the stage jobs leave it: ingest -> normalize -> exact_dedup, rest disabled."""
    paths = RunPaths(output_uri, run_id)
    files = [
        {
            "uri": "/src/a.jsonl",
            "relative": "a.jsonl",
            "size": 120,
            "mtime": 1.0,
            "format": "openai",
            "records": 5,
            "converted": 4,
            "rejected": 1,
            "rows": 4,
            "rejected_by_reason": {"invalid_json": 1},
        }
    ]
    counts = {"ingest": (5, 4, 1), "normalize": (4, 4, 0), "exact_dedup": (4, curated_rows, 4 - curated_rows)}
    if lose_one:
        counts["exact_dedup"] = (4, curated_rows - 1, 4 - curated_rows)
    for stage in STAGES:
        if stage not in counts:
            storage.write_json(
                paths.stats(stage),
                {
                    "stage": stage,
                    "enabled": False,
                    "in": None,
                    "out": None,
                    "rejected": 0,
                    "rejected_by_reason": {},
                },
            )
            continue
        n_in, n_out, n_rej = counts[stage]
        cur, rej = (
            storage.join(paths.stage_dir(stage), "curated"),
            storage.join(paths.stage_dir(stage), "rejects"),
        )
        _parquet(cur, [{"id": f"r{i}", "text": f"t{i}"} for i in range(n_out)])
        _parquet(rej, [{"id": f"x{i}", "stage": stage, "reason": "r"} for i in range(n_rej)])
        stats = {
            "stage": stage,
            "enabled": True,
            "in": n_in,
            "out": n_out,
            "rejected": n_rej,
            "rejected_by_reason": {"r": n_rej} if n_rej else {},
            "curated": cur,
            "rejects": rej,
            "input": "/src" if stage == "ingest" else None,
        }
        if stage == "ingest":
            stats["details"] = {"records": 5, "converted": 4, "files": files}
        storage.write_json(paths.stats(stage), stats)
    storage.write_bytes(storage.join(paths.staging, "data_docs", "index.html"), b"<html>docs</html>")
    return paths.staging


def _rows(uri: str) -> int:
    return sum(
        pq.ParquetFile(pa.BufferReader(storage.read_bytes(f.uri))).metadata.num_rows
        for f in storage.list_files(uri, (".parquet",))
    )


@pytest.fixture(params=["local", "s3"])
def output_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "dataset")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/curated/dataset"


def test_publish_commits_a_complete_version_then_is_idempotent(output_uri):
    staging = stage_run(output_uri, "run1")
    first = publish_run(run_id="run1", source_uri="/src", output_uri=output_uri, cfg=CFG)
    vid = first["version"]
    assert first["published"] and vid.startswith("ds-")
    assert current_version(output_uri) == vid
    vdir = version_dir(output_uri, vid)
    assert _rows(storage.join(vdir, "curated")) == 3
    assert _rows(storage.join(vdir, "rejects", "ingest")) == 1
    assert _rows(storage.join(vdir, "rejects", "exact_dedup")) == 1
    assert storage.read_bytes(storage.join(vdir, "data_docs", "index.html")) == b"<html>docs</html>"
    manifest = storage.read_json(storage.join(vdir, "manifest.json"))
    assert manifest["version"] == vid and manifest["accounting"]["ok"]
    assert manifest["accounting"]["curated_rows"] == 3 and manifest["previous_version"] is None
    assert not storage.exists(storage.join(staging, "ingest", "stats.json"))  # staging cleaned up
    # the same input and config again: nothing new, _latest untouched
    stage_run(output_uri, "run2")
    again = publish_run(run_id="run2", source_uri="/src", output_uri=output_uri, cfg=CFG)
    assert (again["published"], again["version"], again["reason"]) == (False, vid, "already published")
    assert current_version(output_uri) == vid
    assert [
        f.relative.split("/")[0]
        for f in storage.list_files(storage.join(output_uri, "versions"), ("manifest.json",))
    ] == [vid]
    # a different config is a different version; _latest moves and remembers its parent
    cfg2 = load_config({**CFG.to_dict(), "exact_dedup": {"keep": "longest"}})
    third = publish_run(run_id="run2", source_uri="/src", output_uri=output_uri, cfg=cfg2)
    assert third["published"] and third["version"] != vid and third["previous_version"] == vid
    assert current_version(output_uri) == third["version"]


def test_rows_that_do_not_add_up_publish_nothing(output_uri):
    stage_run(output_uri, "bad", lose_one=True)
    with pytest.raises(AccountingError, match="exact_dedup: in 4 != out 2 \\+ rejected 1"):
        publish_run(run_id="bad", source_uri="/src", output_uri=output_uri, cfg=CFG)
    assert current_version(output_uri) is None
    assert not storage.exists(storage.join(output_uri, "versions"))


def test_crash_before_commit_leaves_no_visible_version_and_rerun_completes(output_uri):
    staging = stage_run(output_uri, "crash")
    cmd = [
        sys.executable,
        "-m",
        "spark_jobs.publish",
        "--input",
        staging,
        "--output",
        output_uri,
        "--config",
        json.dumps(CFG.to_dict()),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    crashed = subprocess.run(
        cmd, cwd=REPO, env={**env, CRASH_ENV: "before_manifest"}, capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 1, crashed.stderr
    assert current_version(output_uri) is None  # nothing committed
    versions = storage.list_files(storage.join(output_uri, "versions"))
    vid = versions[0].relative.split("/")[0]
    assert versions and not is_committed(output_uri, vid)  # data copied, but no manifest: invisible
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert result["published"] and result["version"] == vid
    assert current_version(output_uri) == vid and is_committed(output_uri, vid)
    assert _rows(storage.join(version_dir(output_uri, vid), "curated")) == 3


def test_published_files_registered_as_delta_table(tmp_path):
    from deltalake import DeltaTable

    out = str(tmp_path / "dataset")
    stage_run(out, "run1")
    cfg = load_config({**CFG.to_dict(), "lakehouse": {"register_output": "delta"}})
    result = publish_run(run_id="run1", source_uri="/src", output_uri=out, cfg=cfg)
    table = DeltaTable(storage.join(result["version_uri"], "curated"))
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == ["r0", "r1", "r2"]
    manifest = storage.read_json(result["manifest"])
    assert manifest["output_table"] == {
        "format": "delta",
        "table": storage.join(result["version_uri"], "curated"),
        "version": 0,
    }


def test_published_versions_registered_as_iceberg_snapshots(tmp_path, monkeypatch):
    from pyiceberg.catalog import load_catalog

    from include.lakehouse import iceberg_catalog_properties

    monkeypatch.setenv("LLMOPS_ICEBERG_HOME", str(tmp_path / "iceberg"))
    out = str(tmp_path / "dataset")
    lake = {"register_output": "iceberg", "output_table": "curated.chat"}
    snapshots = []
    for run, rows, keep in (("run1", 3, "first"), ("run2", 2, "longest")):
        stage_run(out, run, curated_rows=rows)
        cfg = load_config({**CFG.to_dict(), "lakehouse": lake, "exact_dedup": {"keep": keep}})
        result = publish_run(run_id=run, source_uri="/src", output_uri=out, cfg=cfg)
        snapshots.append(
            (storage.read_json(result["manifest"])["output_table"]["version"], result["version"], rows)
        )
    props = iceberg_catalog_properties({})
    table = load_catalog(props.pop("name", "llmops"), **props).load_table("curated.chat")
    assert table.scan().to_arrow().num_rows == 2  # the table shows the latest version
    for snapshot_id, version, rows in snapshots:  # and each version stays readable by snapshot
        assert table.scan(snapshot_id=snapshot_id).to_arrow().num_rows == rows
        assert table.snapshot_by_id(snapshot_id).summary["llmops.version"] == version
