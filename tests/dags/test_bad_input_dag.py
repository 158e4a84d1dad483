"""curate_dataset on a folder mixing good rows with every bad kind of issue #15 (dag.test(), local
Spark): it publishes, every bad file or record is a reject naming its file, accounting holds; then
a crash after the commit marker is finished by the next run."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from tests.bad_inputs import write_bad_folder
from tests.dags.test_curate_dataset_e2e import SPARK, _states, dag  # noqa: F401

pytestmark = [pytest.mark.dag, pytest.mark.spark]


def test_bad_folder_publishes_with_every_bad_record_in_rejects_then_rerun_repairs(dag, tmp_path):  # noqa: F811
    src, out = tmp_path / "src", tmp_path / "out"
    expected = write_bad_folder(src)
    conf = {
        "source_uri": str(src),
        "output_uri": str(out),
        # every heuristic-quality failure drops here, so each bad record lands in rejects
        "config": {"spark": SPARK, "pii": {"enabled": False}, "filters": {"quality": {"action": "drop"}}},
    }
    dr = dag.test(run_conf=conf)
    assert str(dr.state) == "success", _states(dr)
    vid = (out / "_latest").read_text().strip()
    vdir = out / "versions" / vid
    assert (vdir / "_COMMITTED").read_text().strip() == vid
    m = json.loads((vdir / "manifest.json").read_text())
    acc = m["accounting"]
    assert acc["ok"] and acc["source_records"] == expected["records"]
    assert acc["curated_rows"] == expected["good"]
    for stage in ("ingest", "exact_dedup", "filters"):
        assert m["stages"][stage]["rejected_by_reason"] == expected[stage], stage
    rejects = [r for p in sorted((vdir / "rejects").iterdir()) for r in pq.read_table(str(p)).to_pylist()]
    assert (
        len(rejects)
        == acc["rejected_total"]
        == sum(sum(expected[s].values()) for s in expected if s in m["stages"])
    )
    for r in rejects:
        assert r["source_file"] == expected["files"][r["reason"]], r["reason"]
        assert r["source_file"] in r["detail"] or r["stage"] != "ingest"
    curated = pq.read_table(str(vdir / "curated")).to_pylist()
    assert any("a55" in r["text"] for r in curated)  # an id is not profanity
    assert len({r["id"] for r in curated}) == len(curated)

    # a crash after the commit marker, before _latest and the staging cleanup: the next run finishes it
    staging = m["staging_used"]
    (out / "_latest").unlink()
    (tmp_path / "leftover").mkdir()
    (tmp_path / "leftover" / "part.parquet").write_bytes(b"x")
    shutil.copytree(tmp_path / "leftover", staging, dirs_exist_ok=True)
    dr2 = dag.test(run_conf=conf)
    states = _states(dr2)
    assert str(dr2.state) == "success", states
    assert states["ingest"] == "skipped" and states["finalize_run"] == "success"
    assert (out / "_latest").read_text().strip() == vid
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())
    assert not (out / "_cleanup").exists() or not any((out / "_cleanup").iterdir())
