"""The run manifest and the accounting check when publish is disabled (manifest in staging)."""

from __future__ import annotations

import json

import pytest

from include.config import load_config
from include.run import AccountingError, RunPaths, finalize_run
from tests.integration.test_publish import CFG, stage_run

NO_PUBLISH = load_config({**CFG.to_dict(), "publish": {"enabled": False}})


def test_manifest_is_written_to_staging_with_counts_and_files(tmp_path):
    out = str(tmp_path / "out")
    stage_run(out, "r1")
    manifest = finalize_run(run_id="r1", source_uri="/src", output_uri=out, cfg=NO_PUBLISH)
    on_disk = json.loads((tmp_path / "out" / "_staging" / "r1" / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    acc = manifest["accounting"]
    assert (acc["source_records"], acc["canonical_rows"], acc["curated_rows"], acc["rejected_total"]) == (
        5,
        4,
        3,
        2,
    )
    assert acc["ok"] and manifest["config_hash"] == NO_PUBLISH.digest()
    assert manifest["stages"]["exact_dedup"]["rejected_by_reason"] == {"r": 1}
    assert manifest["input_files"][0]["relative"] == "a.jsonl" and manifest["input_files"][0]["size"] == 120
    assert manifest["outputs"]["curated"] == RunPaths(out, "r1").curated("exact_dedup")


def test_lost_rows_fail_loudly_and_say_where(tmp_path):
    out = str(tmp_path / "out")
    stage_run(out, "r2", lose_one=True)
    with pytest.raises(AccountingError) as err:
        finalize_run(run_id="r2", source_uri="/src", output_uri=out, cfg=NO_PUBLISH)
    assert "exact_dedup: in 4 != out 2 + rejected 1" in str(err.value)
    assert "run: canonical rows 4 != curated 2 + rejected 1" in str(err.value)
    # the manifest is still written, saying what is wrong
    m = json.loads((tmp_path / "out" / "_staging" / "r2" / "manifest.json").read_text())
    assert m["accounting"]["ok"] is False and len(m["accounting"]["errors"]) == 2
