"""The commit protocol (include/commit.py): a real publish subprocess killed at each step,
then rerun; the rerun finishes the commit. Local folders and a real S3 server (moto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from include import storage
from include.commit import (
    CLEANUP,
    CRASH_ENV,
    CRASH_POINTS,
    current_version,
    is_committed,
    marker_uri,
    version_dir,
)
from include.config import STAGES
from tests.integration.test_publish import CFG, REPO, _rows, stage_run


@pytest.fixture(params=["local", "s3"])
def output_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "dataset")
    return f"s3://{request.getfixturevalue('s3_bucket')}/curated/dataset"


def staged(root: str, run_id: str, cfg=CFG) -> str:
    """A run folder whose stats.json record the config the stages ran with (as run_stage writes)."""
    staging = stage_run(root, run_id)
    for s in STAGES[:-1]:
        uri = storage.join(staging, s, "stats.json")
        storage.write_json(
            uri, {**storage.read_json(uri), "config": cfg.to_dict(), "config_digest": cfg.digest()}
        )
    return staging


def publish(staging: str, root: str, *, crash: str | None = None, config: str | None = None):
    cmd = [sys.executable, "-m", "spark_jobs.publish", "--input", staging, "--output", root]
    if config is not None:
        cmd += ["--config", config]
    env = dict(os.environ, PYTHONPATH=str(REPO))  # read now: the S3 fixture sets the endpoint
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _tombstones(root: str) -> list:
    try:
        return storage.list_files(storage.join(root, CLEANUP))
    except FileNotFoundError:
        return []


def _versions(root: str) -> set[str]:
    try:
        return {f.relative.split("/")[0] for f in storage.list_files(storage.join(root, "versions"))}
    except FileNotFoundError:
        return set()


@pytest.mark.parametrize("step", CRASH_POINTS)
def test_publish_killed_at_each_step_is_finished_by_the_rerun(output_uri, step):
    staging = staged(output_uri, f"crash-{step}")
    crashed = publish(staging, output_uri, crash=step)
    assert crashed.returncode == 1, crashed.stderr
    assert f"{CRASH_ENV}={step}: crashing" in crashed.stderr
    (vid,) = _versions(output_uri)
    manifest = storage.join(version_dir(output_uri, vid), "manifest.json")
    committed = step not in ("before_manifest", "after_manifest")
    assert is_committed(output_uri, vid) is committed
    assert storage.exists(manifest) is (step != "before_manifest")
    assert current_version(output_uri) == (vid if step in ("after_latest", "during_cleanup") else None)
    assert storage.exists(storage.join(staging, "ingest", "stats.json"))  # staging not cleaned yet
    if step == "during_cleanup":  # a delete that got half-way: some stage folders already gone
        storage.delete_dir(storage.join(staging, "ingest"))
        assert _tombstones(output_uri)

    # the half-deleted run folder cannot be published again: the next run (same input) cleans it
    rerun = publish(staging if step != "during_cleanup" else staged(output_uri, "next-run"), output_uri)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert result["version"] == vid
    assert result["published"] is (step not in ("after_latest", "during_cleanup"))
    assert result.get("repaired", False) is (step == "after_marker")
    assert current_version(output_uri) == vid and is_committed(output_uri, vid)
    assert json.loads(storage.read_bytes(manifest))["version"] == vid  # whole, parseable
    assert _rows(storage.join(version_dir(output_uri, vid), "curated")) == 3
    assert not storage.exists(storage.join(staging, "normalize", "stats.json"))  # staging cleaned
    assert _tombstones(output_uri) == []
    assert _versions(output_uri) == {vid}


def test_half_deleted_staging_is_removed_by_the_next_version_publish(output_uri):
    from include.config import load_config

    staging = staged(output_uri, "first")
    assert publish(staging, output_uri, crash="during_cleanup").returncode == 1
    storage.delete_dir(storage.join(staging, "ingest"))  # the kill came mid-delete
    other = load_config({**CFG.to_dict(), "exact_dedup": {"keep": "longest"}})
    nxt = staged(output_uri, "second", cfg=other)  # a different version: a normal publish
    done = publish(nxt, output_uri)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["published"] is True
    assert len(_versions(output_uri)) == 2
    assert not storage.exists(storage.join(staging, "normalize", "stats.json"))
    assert not storage.exists(storage.join(nxt, "ingest", "stats.json"))
    assert _tombstones(output_uri) == []


def test_partial_pointer_files_are_ignored(output_uri):
    staging = staged(output_uri, "p")
    assert publish(staging, output_uri, crash="after_manifest").returncode == 1
    (vid,) = _versions(output_uri)
    storage.write_bytes(marker_uri(output_uri, vid), vid[:7].encode())  # a torn marker
    storage.write_bytes(storage.join(output_uri, "_latest"), b"ds-12")  # a torn pointer
    assert not is_committed(output_uri, vid) and current_version(output_uri) is None
    assert publish(staging, output_uri).returncode == 0
    assert is_committed(output_uri, vid) and current_version(output_uri) == vid


def test_standalone_publish_uses_the_runs_config_and_refuses_another(output_uri):
    from include.config import load_config

    judged = load_config({**CFG.to_dict(), "exact_dedup": {"keep": "longest"}})
    staging = staged(output_uri, "cfg", cfg=judged)
    refused = publish(staging, output_uri, config=json.dumps(CFG.to_dict()))
    assert refused.returncode == 2
    assert "refusing to publish" in refused.stderr and judged.digest() in refused.stderr
    assert _versions(output_uri) == set() and current_version(output_uri) is None
    ok = publish(staging, output_uri)  # no --config: the config the stages ran with
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout.strip().splitlines()[-1])
    manifest = storage.read_json(result["manifest"])
    assert (
        manifest["config_hash"] == judged.digest() and manifest["config"]["exact_dedup"]["keep"] == "longest"
    )


def test_stages_that_ran_with_different_configs_are_not_published(output_uri):
    from include.config import load_config

    staging = staged(output_uri, "mixed")
    other = load_config({**CFG.to_dict(), "exact_dedup": {"keep": "longest"}})
    uri = storage.join(staging, "exact_dedup", "stats.json")
    storage.write_json(
        uri, {**storage.read_json(uri), "config": other.to_dict(), "config_digest": other.digest()}
    )
    refused = publish(staging, output_uri)
    assert refused.returncode == 2 and "different configs" in refused.stderr
    assert _versions(output_uri) == set()


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    target = tmp_path / "m" / "manifest.json"
    storage.write_json(str(target), {"v": 1})

    class Boom:  # fails while being written, like a process dying mid-write
        def __buffer__(self, flags):
            raise OSError("disk gone")

    with pytest.raises((OSError, TypeError)):
        storage.write_bytes(str(target), Boom())
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]  # no temporary left
