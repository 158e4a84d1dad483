"""Cross-night dedup index on local[2]: night 2 rejects what night 1 published (exactly and
nearly), not itself, not a rerun; an unmarked segment is ignored; compaction keeps answers."""

from __future__ import annotations

import random
import shutil

import pyarrow.parquet as pq
import pytest

from include import dedup_index as di
from include import storage
from include.commit import write_marker
from include.config import load_config
from spark_jobs import exact_dedup, near_dedup, normalize
from spark_jobs.common import run_stage

pytestmark = pytest.mark.spark
VOCAB = [f"w{i}" for i in range(5000)]


def text(seed: int) -> str:
    return " ".join(random.Random(seed).choices(VOCAB, k=120))


def edit(t: str) -> str:  # a light edit: Jaccard of 5-shingles stays ~0.9
    words = t.split()
    return " ".join(words[:-3] + ["changed", "ending", "here"])


@pytest.fixture(scope="module")
def cfg():
    return load_config(
        {"spark": {"master": "local[2]", "shuffle_partitions": 3}, "near_dedup": {"index": {"enabled": True}}}
    )


def night(spark, cfg, out, run, rows):
    """normalize -> exact_dedup -> near_dedup in the run layout; returns (stats, rejects by stage)."""
    src = out / "_src" / run
    spark.createDataFrame(rows).repartition(2).write.parquet(str(src))
    prev, stats, rejects = str(src), {}, {}
    for name, mod in (("normalize", normalize), ("exact_dedup", exact_dedup), ("near_dedup", near_dedup)):
        stage_out = out / "_staging" / run / name
        stats[name] = run_stage(name, mod.run, prev, str(stage_out), cfg, spark=spark)
        rejects[name] = pq.read_table(stage_out / "rejects").to_pylist()
        prev = str(stage_out / "curated")
    return stats, rejects


def publish(out, run, vid, cfg):
    """What publish does for the index: the version's curated + staged keys, commit, then index."""
    vdir = out / "versions" / vid
    shutil.copytree(out / "_staging" / run / "near_dedup" / "curated", vdir / "curated")
    shutil.copytree(out / "_staging" / run / "near_dedup" / di.STAGED_DIR, vdir / di.STAGED_DIR)
    (vdir / "manifest.json").write_text("{}")
    write_marker(str(out), vid)  # the commit
    return di.index_published(cfg, str(out), vid)


def rows_of(texts: dict[str, str], file: str):
    return [{"id": k, "text": v, "source_file": file, "line": i} for i, (k, v) in enumerate(texts.items())]


def test_second_night_rejects_published_duplicates(spark, cfg, tmp_path):
    out = tmp_path / "ds"
    n1 = {f"a{i}": text(i) for i in range(20)}
    stats1, rej1 = night(spark, cfg, out, "r1", rows_of(n1, "night1.jsonl"))
    assert stats1["near_dedup"]["details"]["index"]["segments"] == []  # empty index: nothing to check
    assert publish(out, "r1", "ds-0000000000000001", cfg)["added"] == 20
    assert (
        publish_again(out, cfg, "ds-0000000000000001")["note"] == "already indexed"
    )  # a publish retry adds nothing

    n2 = {f"b{i}": n1[f"a{i}"] for i in range(3)}  # re-sent verbatim under new ids
    n2 |= {f"c{i}": edit(n1[f"a{i}"]) for i in range(3, 6)}  # re-sent with a light edit
    n2 |= {"a7": n1["a7"]}  # the same id again (a rerun): not a duplicate of itself
    n2 |= {f"n{i}": text(100 + i) for i in range(10)}  # new tonight
    stats2, rej2 = night(spark, cfg, out, "r2", rows_of(n2, "night2.jsonl"))
    exact = {r["id"]: (r["reason"], r["dup_of"], r["detail"]) for r in rej2["exact_dedup"]}
    near = {r["id"]: (r["reason"], r["dup_of"], r["detail"]) for r in rej2["near_dedup"]}
    assert {k: v[:2] for k, v in exact.items()} == {
        f"b{i}": ("exact_duplicate_of_published", f"a{i}") for i in range(3)
    }
    assert {k: v[:2] for k, v in near.items()} == {
        f"c{i}": ("near_duplicate_of_published", f"a{i}") for i in range(3, 6)
    }
    assert all("ds-0000000000000001" in v[2] for v in [*exact.values(), *near.values()])
    assert stats2["near_dedup"]["out"] == 11 and stats2["near_dedup"]["details"]["index"]["rejected"] == 3
    info = stats2["near_dedup"]["details"]["index"]
    assert (
        info["versions"] == ["ds-0000000000000001"]
        and info["rows"] == 20
        and info["segments"] == ["ds-0000000000000001"]
    )

    # a crashed index write (files, no marker) is invisible; compaction merges and answers the same
    publish(out, "r2", "ds-0000000000000002", cfg)
    marker = out / di.INDEX_DIR / "_segments" / "ds-0000000000000002.json"
    marker.unlink()
    assert [s["segment"] for s in di.segments(str(out / di.INDEX_DIR))] == ["ds-0000000000000001"]
    assert publish_again(out, cfg, "ds-0000000000000002")["added"] == 11  # the retry rewrites the segment
    result = di.compact(cfg, str(out))
    assert result["segments_before"] == 2 and result["segments_after"] == 1
    # a7 was published twice (a rerun under another version): the merged index keeps its oldest entry
    assert result["compacted"][0]["rows"] == 30 and result["compacted"][0]["versions"] == [
        "ds-0000000000000001",
        "ds-0000000000000002",
    ]
    segment = result["compacted"][0]["segment"]
    assert sorted(p.name for p in (out / di.INDEX_DIR / "records").iterdir()) == [f"{segment}.parquet"]
    z = {f"z{k}": v for k, v in n2.items()}  # night 2 re-sent under new ids, against the compacted index
    stats3, rej3 = night(spark, cfg, out, "r3", rows_of(z, "night3.jsonl"))
    # c3..c5 were not published (near duplicates on night 2): they are near duplicates again
    assert stats3["near_dedup"]["out"] == 0 and stats3["exact_dedup"]["rejected"] == 14
    dup_of = {r["id"]: r["dup_of"] for r in rej3["exact_dedup"]}
    assert (dup_of["zb0"], dup_of["za7"], dup_of["zn0"]) == ("a0", "a7", "n0")
    assert {r["id"]: r["dup_of"] for r in rej3["near_dedup"]} == {f"zc{i}": f"a{i}" for i in range(3, 6)}
    assert stats3["exact_dedup"]["details"]["index"]["segments"] == [segment]


def publish_again(out, cfg, vid):
    return di.index_published(cfg, str(out), vid)


def test_segments_with_other_params_are_ignored(tmp_path, cfg):
    uri = str(tmp_path / "idx")
    storage.write_json(
        f"{uri}/_segments/x.json",
        {"segment": "x", "versions": ["v"], "rows": 1, "params_digest": "other", "written_at": "t"},
    )
    assert di.usable_segments(uri, di.params_of(cfg, 17, 7)) == []
