"""The Great Expectations gate on hand-made canonical rows: clean passes, planted bad rows fail."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.config import load_config
from include.schema import arrow_schema, canonical_fields
from spark_jobs import validate
from spark_jobs.common import ValidationFailed, run_stage

pytestmark = pytest.mark.spark


def msg(role, content, **kw):
    base = {
        "role": role,
        "content": content,
        "name": None,
        "tool_calls": None,
        "tool_call_id": None,
        "reasoning": None,
        "loss_weight": None,
    }
    return {**base, **kw}


def row(i, messages, kind="sft", chosen=None, rejected=None, label=None):
    text = "\n\n".join(m["content"] for m in messages + (chosen or []) + (rejected or []))
    return {
        "id": f"r{i}",
        "source": "t",
        "format": "openai",
        "kind": kind,
        "system": None,
        "messages": messages,
        "tools": None,
        "chosen": chosen,
        "rejected": rejected,
        "label": label,
        "text": text,
        "meta": None,
        "source_file": "f.jsonl",
        "line": i,
    }


def clean_rows():
    return [
        row(1, [msg("user", "Hi there"), msg("assistant", "Hello! How can I help?")]),
        row(
            2,
            [
                msg("user", "Weather in Oslo?"),
                msg(
                    "assistant",
                    "",
                    tool_calls=[{"id": "c1", "name": "weather", "arguments": '{"city": "Oslo"}'}],
                ),
                msg("tool", '{"temp": 3}', tool_call_id="c1"),
                msg("assistant", "It is 3 degrees."),
            ],
        ),
        row(
            3,
            [msg("user", "Name a color")],
            kind="preference",
            chosen=[msg("assistant", "Blue.")],
            rejected=[msg("assistant", "Seven.")],
        ),
        row(4, [msg("user", "2+2?"), msg("assistant", "4")], kind="kto", label=True),
    ]


def write(rows, path):
    schema = arrow_schema(canonical_fields(False))
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path / "part-0.parquet")


@pytest.fixture(scope="module")
def cfg():
    return load_config({"spark": {"master": "local[2]"}, "validate": {"min_rows": 2}})


def test_clean_rows_pass_and_write_data_docs(spark, cfg, tmp_path):
    (tmp_path / "in").mkdir()
    write(clean_rows(), tmp_path / "in")
    stats = run_stage(
        "validate", validate.run, str(tmp_path / "in"), str(tmp_path / "run" / "validate"), cfg, spark=spark
    )
    assert (stats["in"], stats["out"], stats["rejected"]) == (4, 4, 0)
    report = json.loads((tmp_path / "run" / "validate" / "validation.json").read_text())
    assert report["success"] and all(e["success"] for e in report["expectations"])
    assert (tmp_path / "run" / "data_docs" / "index.html").is_file()
    out = pq.read_table(tmp_path / "run" / "validate" / "curated")
    assert not any(c.startswith("_") for c in out.column_names)


@pytest.mark.parametrize(
    "bad, failing",
    [
        (lambda rows: rows + [dict(rows[0], line=9)], ("expect_column_values_to_be_unique", "id")),
        (
            lambda rows: (
                rows + [row(9, [msg("user", "Mail me at jane.doe@example.com"), msg("assistant", "Ok")])]
            ),
            ("expect_column_values_to_be_null", "_pii_hits"),
        ),
        (
            lambda rows: rows + [row(9, [msg("user", "Say hi"), msg("assistant", "  ")])],
            ("expect_column_values_to_be_null", "_problem"),
        ),
        (
            lambda rows: (
                rows
                + [
                    row(
                        9,
                        [msg("user", "a")],
                        kind="preference",
                        chosen=[msg("assistant", "x")],
                        rejected=[msg("assistant", "x")],
                    )
                ]
            ),
            ("expect_column_values_to_be_null", "_problem"),
        ),
        (lambda rows: rows[:1], ("expect_table_row_count_to_be_between", None)),
    ],
    ids=["duplicate-id", "residual-email", "empty-assistant-turn", "chosen-equals-rejected", "too-few-rows"],
)
def test_planted_bad_rows_fail_the_gate(spark, cfg, tmp_path, bad, failing):
    (tmp_path / "in").mkdir()
    write(bad(clean_rows()), tmp_path / "in")
    out = tmp_path / "run" / "validate"
    with pytest.raises(ValidationFailed) as err:
        run_stage("validate", validate.run, str(tmp_path / "in"), str(out), cfg, spark=spark)
    report = json.loads((out / "validation.json").read_text())
    failed = {(e["expectation"], e["column"]) for e in report["expectations"] if not e["success"]}
    assert failed == {failing}
    assert failing[0] in str(err.value)
    assert not (out / "curated").exists()  # nothing is written for a failed gate


def test_reject_share_comes_from_the_runs_stage_stats(spark, tmp_path):
    cfg = load_config({"spark": {"master": "local[2]"}, "validate": {"max_reject_share": 0.2}})
    run = tmp_path / "run"
    (run / "ingest").mkdir(parents=True)
    (run / "ingest" / "stats.json").write_text(json.dumps({"rejected": 1, "details": {"records": 10}}))
    (run / "exact_dedup").mkdir()
    (run / "exact_dedup" / "stats.json").write_text(json.dumps({"rejected": 2}))
    (tmp_path / "in").mkdir()
    write(clean_rows(), tmp_path / "in")
    with pytest.raises(ValidationFailed, match="_reject_share"):
        run_stage("validate", validate.run, str(tmp_path / "in"), str(run / "validate"), cfg, spark=spark)
    report = json.loads((run / "validate" / "validation.json").read_text())
    assert report["reject_share"] == pytest.approx(0.3)
