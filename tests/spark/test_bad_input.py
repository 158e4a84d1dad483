"""Bad input through the real stages on local[2] Spark (issue #15): every bad file or record is a
reject naming its file and line, the good ones are kept, nothing crashes."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from include.config import load_config
from spark_jobs import exact_dedup, ingest, normalize, quality
from spark_jobs.common import run_stage
from tests.bad_inputs import write_bad_folder
from tests.judge_server import ScriptedJudge

pytestmark = pytest.mark.spark
SPARK = {"master": "local[2]", "shuffle_partitions": 4}


def read(path) -> list[dict]:
    return pq.read_table(str(path)).to_pylist()


@pytest.fixture(scope="module")
def bad_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    expected = write_bad_folder(root / "src")
    cfg = load_config({"spark": SPARK})
    stats = {}
    src = str(root / "src")
    for name, mod in (("ingest", ingest), ("normalize", normalize), ("exact_dedup", exact_dedup)):
        stats[name] = run_stage(name, mod.run, src, str(root / name), cfg, spark=spark)
        src = str(root / name / "curated")
    return root, expected, stats


def test_ingest_turns_every_bad_kind_into_a_named_reject(bad_run):
    root, expected, stats = bad_run
    st = stats["ingest"]
    assert st["rejected_by_reason"] == expected["ingest"]
    assert st["in"] == st["details"]["records"] == expected["records"]
    assert st["details"]["converted"] + st["rejected"] == st["in"]
    for r in read(root / "ingest" / "rejects"):
        assert r["source_file"] == expected["files"][r["reason"]]
        assert r["detail"].startswith(f"{r['source_file']}:{r['line']}: "), r["detail"]
    by_reason = {r["reason"]: r for r in read(root / "ingest" / "rejects")}
    assert (
        "ArrowInvalid" in by_reason["unreadable_file"]["detail"] and by_reason["unreadable_file"]["line"] == 0
    )
    assert (
        "truncated gzip" in by_reason["bad_gzip"]["detail"]
        and "compressed byte" in by_reason["bad_gzip"]["detail"]
    )
    assert "nested deeper" in by_reason["invalid_json"]["detail"] and by_reason["invalid_json"]["line"] == 2
    assert "U+D800" in by_reason["bad_unicode"]["detail"] and by_reason["bad_unicode"]["line"] == 4
    assert (
        "5000000" in by_reason["too_long"]["detail"].replace(",", "")
        or "> ingest.max_text_chars" in (by_reason["too_long"]["detail"])
    )
    assert len(by_reason["too_long"]["raw"]) <= 4000  # the 5 MB record is not copied whole
    files = {f["relative"]: f for f in st["details"]["files"]}
    assert files["empty.jsonl"]["records"] == 0 and files["not_really.parquet"]["rejected"] == 1


def test_one_id_in_two_files_is_rejected_once_naming_both(bad_run):
    root, expected, stats = bad_run
    st = stats["exact_dedup"]
    assert st["rejected_by_reason"] == expected["exact_dedup"]
    (rej,) = read(root / "exact_dedup" / "rejects")
    assert rej["id"] == "shared-1" and rej["source_file"] == "ids_b.json"
    assert "ids_a.json:4" in rej["detail"] and "ids_b.json:4" in rej["detail"]
    curated = read(root / "exact_dedup" / "curated")
    assert len({r["id"] for r in curated}) == len(curated)  # the gate's unique-id check holds
    assert next(r for r in curated if r["id"] == "shared-1")["source_file"] == "ids_a.json"


def test_judge_statistics_survive_constant_scores(spark, tmp_path):
    """Every score equal: the length/score correlation is undefined (None), not a crash under ANSI."""
    from tests.spark.test_pii_filters import msg, row, write

    rows = [
        row(i, [msg("user", f"Question {i}?"), msg("assistant", "GOOD: " + "yes " * i)]) for i in range(1, 5)
    ]
    src = write(rows, tmp_path / "in")
    assert spark.conf.get("spark.sql.ansi.enabled") in ("true", None)
    with ScriptedJudge() as srv:
        cfg = load_config(
            {
                "spark": SPARK,
                "quality": {
                    "judge": {
                        "enabled": True,
                        "base_url": srv.url,
                        "model": "judge",
                        "backoff_s": 0.01,
                        "base_model": "Qwen/Qwen2.5-0.5B",
                    }
                },
            }
        )
        stats = run_stage("quality", quality.run, src, str(tmp_path / "out"), cfg, spark=spark)
    assert stats["out"] == 4 and stats["rejected"] == 0
    text = json.dumps(stats["details"])
    assert '"length_score_correlation": null' in text and '"mean_score": 5.0' in text
