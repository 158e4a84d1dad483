"""Index segments written the way publish writes them (no Spark): idempotent adds, compaction
drops versions no longer published and keeps an id's oldest entry, other params ignored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from include import dedup_index as di
from include.commit import marker_uri, write_marker
from include.config import load_config
from include.minhash import MinHashParams, band_keys, signatures

CFG = load_config({"near_dedup": {"index": {"enabled": True}}})
PARAMS = di.params_of(CFG, 17, 7)


def version(out, vid, ids, published=None):
    """versions/<vid>/ with staged keys for ``ids`` and a curated set of ``published`` ids."""
    vdir = out / "versions" / vid
    (vdir / di.STAGED_DIR).mkdir(parents=True)
    (vdir / "curated").mkdir()
    sig, _ = signatures([f"text of {i} " * 20 for i in ids], MinHashParams())
    staged = pa.table(
        {
            "id": ids,
            "norm_hash": [f"h-{i}" for i in ids],
            "signature": pa.array(list(sig.view(np.int32)), pa.list_(pa.int32())),
            "bands": pa.array(list(band_keys(sig, 17, 7)), pa.list_(pa.int64())),
        }
    )
    pq.write_table(staged, vdir / di.STAGED_DIR / "part-0.parquet")
    (vdir / di.STAGED_DIR / di.PARAMS_FILE).write_text(json.dumps(PARAMS))
    pq.write_table(pa.table({"id": published or ids}), vdir / "curated" / "part-0.parquet")
    (vdir / "manifest.json").write_text("{}")
    write_marker(str(out), vid)  # committed, as publish leaves it
    return vdir


def test_only_published_rows_are_added_once(tmp_path):
    version(tmp_path, "v1", ["a", "b", "c"], published=["a", "c"])  # b dropped by a later stage
    assert di.index_published(CFG, str(tmp_path), "v1") == {"version": "v1", "added": 2, "segment": "v1"}
    assert di.index_published(CFG, str(tmp_path), "v1")["note"] == "already indexed"
    uri = str(tmp_path / di.INDEX_DIR)
    assert [s["versions"] for s in di.usable_segments(uri, PARAMS)] == [["v1"]]
    band0 = pq.read_table(di.band_file(uri, 0, "v1")).to_pylist()
    assert sorted(r["id"] for r in band0) == ["a", "c"] and {r["band"] for r in band0} == {0}
    assert len(list((tmp_path / di.INDEX_DIR / "bands").iterdir())) == 17  # one folder per band
    assert di.usable_segments(uri, {**PARAMS, "bands": 16}) == []  # other banding: not comparable
    assert di.index_published(load_config(), str(tmp_path), "v1") is None  # index off: nothing


def test_compaction_merges_and_drops_unpublished_versions(tmp_path):
    for vid, ids in (
        ("ds-00000000000000a1", ["a", "b"]),
        ("ds-00000000000000a2", ["b", "c"]),
        ("ds-00000000000000a3", ["d"]),
    ):
        version(tmp_path, vid, ids)
        di.index_published(CFG, str(tmp_path), vid)
    Path(marker_uri(str(tmp_path), "ds-00000000000000a3")).unlink()  # v3 retired (no longer published)
    result = di.compact(CFG, str(tmp_path))
    assert (result["segments_before"], result["segments_after"]) == (3, 1)
    merged = result["compacted"][0]
    assert merged["versions"] == ["ds-00000000000000a1", "ds-00000000000000a2"] and merged["rows"] == 3
    uri = str(tmp_path / di.INDEX_DIR)
    records = pq.read_table(di.records_file(uri, merged["segment"])).to_pylist()
    assert sorted((r["id"], r["version"]) for r in records) == [
        ("a", "ds-00000000000000a1"),
        ("b", "ds-00000000000000a1"),
        ("c", "ds-00000000000000a2"),
    ]
    band3 = pq.read_table(di.band_file(uri, 3, merged["segment"])).to_pylist()
    assert sorted((r["id"], r["version"]) for r in band3) == [
        ("a", "ds-00000000000000a1"),
        ("b", "ds-00000000000000a1"),
        ("c", "ds-00000000000000a2"),
    ]
    assert sorted(p.name for p in (tmp_path / di.INDEX_DIR / "records").iterdir()) == [
        f"{merged['segment']}.parquet"
    ]
    assert di.compact(CFG, str(tmp_path))["compacted"] == []  # one segment: nothing to do
    assert di.main(["show", "--output", str(tmp_path), "--config", json.dumps(CFG.to_dict())]) == 0
