"""Every real file in ../shared/datasets: detected format, rows, rejects with reasons."""

from __future__ import annotations

import json

import pytest

from include.ingest import convert_file
from include.schema import arrow_schema, canonical_fields

# file -> (format, records, rows, {reject reason: count})
EXPECTED = {
    "alpaca/seed_tasks.jsonl": ("self_instruct", 175, None, {}),
    # evaluation benchmarks and a labelled PII set: no training format, every record a reject
    "eval-benchmarks/HumanEval.jsonl.gz": (None, 164, 0, {"unknown_format": 164}),
    "eval-benchmarks/gsm8k_test.jsonl": (None, 1319, 0, {"unknown_format": 1319}),
    "pii/presidio_research_generated_large.json": (None, 2109, 0, {"unknown_format": 2109}),
    "hh-rlhf/harmless-base-test.jsonl.gz": ("hh_rlhf", 2312, 2308, {"empty_content": 4}),
    "llamafactory/alpaca_en_demo.json": ("alpaca", 999, 999, {}),
    "llamafactory/c4_demo.jsonl": ("text", 300, 300, {}),
    "llamafactory/dataset_info.json": (None, 1, 0, {"unknown_format": 1}),
    "llamafactory/dpo_en_demo.json": ("sharegpt_preference", 300, 300, {}),
    "llamafactory/glaive_toolcall_en_demo.json": ("sharegpt", 300, 300, {}),
    "llamafactory/kto_en_demo.json": ("kto", 300, 300, {}),
    "llamafactory/reason_tool_use_demo_50.jsonl": ("openai", 50, 50, {}),
    "llamafactory/v1_dpo_demo.jsonl": ("chosen_rejected_messages", 10, 10, {}),
    "llamafactory/v1_sft_demo.jsonl": ("openai", 500, 500, {}),
    "oasst/en_100_message.jsonl": ("oasst_message", 100, None, {}),
    "oasst/en_100_tree.jsonl": ("oasst_tree", 100, None, {}),
    "prompt-injection/deepset/train-00000-of-00001-9564e8b05b4757ab.parquet": ("text", 546, 546, {}),
    "prompt-injection/deepset/train.jsonl": ("text", 546, 546, {}),
}


@pytest.fixture(scope="module")
def converted(shared_datasets):
    out = {}
    for rel in EXPECTED:
        out[rel] = convert_file(str(shared_datasets / rel), rel, source="shared")
    return out


def test_every_shared_file_is_covered(shared_datasets):
    files = {
        p.relative_to(shared_datasets).as_posix()
        for p in shared_datasets.rglob("*")
        if p.is_file() and p.suffix in (".json", ".jsonl", ".gz", ".parquet")
    }
    assert files == set(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_format_counts_and_reasons(converted, rel):
    fmt, records, rows, reasons = EXPECTED[rel]
    got_rows, rejects, report = converted[rel]
    assert report.format == fmt
    assert report.records == records
    assert report.converted + report.rejected == records
    if rows is not None:
        assert report.rows == len(got_rows) == rows
    assert dict(report.reasons) == reasons
    for r in rejects:
        assert r["stage"] == "ingest" and r["detail"].startswith(f"{rel}:{r['line']}: ")
    # rows fit the canonical Arrow schema exactly
    import pyarrow as pa

    pa.Table.from_pylist(got_rows, schema=arrow_schema(canonical_fields(False)))
    assert len({r["id"] for r in got_rows}) == len(got_rows)


def _leaf_paths(node, deleted_ok=False):
    """Independent walk: number of root-to-leaf conversations ending with an assistant."""
    kids = [
        k for k in node.get("replies") or [] if not k.get("deleted") and k.get("review_result") is not False
    ]
    if not kids:
        return {node["message_id"]} if node["role"] == "assistant" else set()
    ends = set()
    for k in kids:
        sub = _leaf_paths(k)
        ends |= sub if sub else ({node["message_id"]} if node["role"] == "assistant" else set())
    return ends


def test_oasst_paths_match_an_independent_walk(shared_datasets, converted):
    for rel, root_of in (
        ("oasst/en_100_tree.jsonl", lambda r: r["prompt"]),
        ("oasst/en_100_message.jsonl", lambda r: r),
    ):
        expected = set()
        for line in (shared_datasets / rel).read_text().splitlines():
            expected |= _leaf_paths(root_of(json.loads(line)))
        rows, _, _ = converted[rel]
        assert {r["id"] for r in rows} == expected
        assert all(
            r["messages"][0]["role"] == "user" and r["messages"][-1]["role"] == "assistant" for r in rows
        )


def test_self_instruct_makes_one_row_per_instance(shared_datasets, converted):
    lines = (shared_datasets / "alpaca/seed_tasks.jsonl").read_text().splitlines()
    assert len(converted["alpaca/seed_tasks.jsonl"][0]) == sum(len(json.loads(x)["instances"]) for x in lines)


def test_glaive_tool_calls_become_assistant_calls_answered_by_tool_turns(converted):
    rows = converted["llamafactory/glaive_toolcall_en_demo.json"][0]
    with_calls = [r for r in rows if any(m["tool_calls"] for m in r["messages"])]
    assert len(with_calls) > 150 and all(r["tools"] for r in rows if r["tools"] is not None)
    calls = sum(len(m["tool_calls"] or []) for r in rows for m in r["messages"])
    tool_msgs = [m for r in rows for m in r["messages"] if m["role"] == "tool"]
    assert calls == 211 and len(tool_msgs) == 211  # one per function_call / observation in the file
    ids = {c["id"] for r in rows for m in r["messages"] for c in m["tool_calls"] or []}
    assert all(m["tool_call_id"] for m in tool_msgs)
    assert len(ids) <= calls


def test_reasoning_parts_and_tool_call_parts_are_kept(converted):
    rows = converted["llamafactory/reason_tool_use_demo_50.jsonl"][0]
    assert sum(1 for r in rows for m in r["messages"] if m["reasoning"]) == 112
    assert sum(len(m["tool_calls"] or []) for r in rows for m in r["messages"]) == 68
    assert all(r["system"] for r in rows)


def test_preference_and_kto_shapes(converted):
    dpo = converted["llamafactory/dpo_en_demo.json"][0]
    assert all(r["kind"] == "preference" and r["messages"][-1]["role"] == "user" for r in dpo)
    assert sum(1 for r in dpo if r["system"]) == 80  # 80 records open with a system turn
    kto = converted["llamafactory/kto_en_demo.json"][0]
    assert sorted({r["label"] for r in kto}) == [False, True]
    assert sum(r["label"] for r in kto) == 150
    hh = converted["hh-rlhf/harmless-base-test.jsonl.gz"][0]
    assert all(r["chosen"][0]["role"] == "assistant" and r["messages"][-1]["role"] == "user" for r in hh)
    v1 = converted["llamafactory/v1_dpo_demo.jsonl"][0]
    assert all(r["system"] and len(r["chosen"]) == 1 for r in v1)


def test_labelled_text_keeps_its_label_in_meta(converted):
    rows = converted["prompt-injection/deepset/train.jsonl"][0]
    labels = [json.loads(r["meta"])["label"] for r in rows]
    assert labels.count(1) == 203 and labels.count(0) == 343
