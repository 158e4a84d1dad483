"""Hand-made edge cases for each adapter: exact rows or exact RecordError reasons."""

from __future__ import annotations

import json

import pytest

from include.formats import ADAPTERS, detect_format, get_adapter
from include.formats.base import FormatOptions, RecordError, canonical_json, finalize

OPTS = FormatOptions()


def convert(fmt, rec, opts=OPTS):
    rows = ADAPTERS[fmt].convert(rec, opts)
    return [
        finalize(p, fmt=fmt, source="t", source_file="f.jsonl", line=1, record_key=canonical_json(rec))
        for p in rows
    ]


def reason(fmt, rec, opts=OPTS):
    with pytest.raises(RecordError) as err:
        convert(fmt, rec, opts)
    return err.value.reason, err.value.detail


# ------------------------------------------------------------------ openai


def test_openai_system_moves_out_and_typed_parts_join():
    [row] = convert(
        "openai",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hi"}, {"type": "text", "value": "there"}],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "reasoning", "value": "greet back"},
                        {"type": "text", "text": "Hello!"},
                    ],
                    "loss_weight": 1.0,
                },
            ]
        },
    )
    assert row["system"] == "Be brief."
    assert [(m["role"], m["content"]) for m in row["messages"]] == [
        ("user", "Hi\nthere"),
        ("assistant", "Hello!"),
    ]
    assert row["messages"][1]["reasoning"] == "greet back" and row["messages"][1]["loss_weight"] == 1.0
    assert row["text"] == "Be brief.\n\nHi\nthere\n\nHello!"


def test_openai_tool_calls_get_ids_and_tool_results_link_to_them():
    [row] = convert(
        "openai",
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "w", "arguments": {"city": "Rome"}}}
                    ],
                },
                {"role": "tool", "content": "sunny"},
                {"role": "assistant", "content": "Sunny."},
            ],
            "tools": [{"name": "w"}],
        },
    )
    call = row["messages"][1]["tool_calls"][0]
    assert call == {"id": "call_1", "name": "w", "arguments": '{"city": "Rome"}'}
    assert row["messages"][2]["tool_call_id"] == "call_1"
    assert json.loads(row["tools"]) == [{"name": "w"}]


@pytest.mark.parametrize(
    "rec, expect",
    [
        ({"messages": "hi"}, ("bad_field", "messages: expected a list of messages, got str")),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            ("unknown_role", "messages[0]: unknown role 'robot'"),
        ),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]},
            ("empty_content", "messages[1]: empty assistant message"),
        ),
        (
            {"messages": [{"role": "user", "content": "x"}]},
            ("no_assistant_turn", "messages: conversation has no assistant turn"),
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            ("unsupported_content", "messages[0].content[0]: content part type 'image_url' is not supported"),
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": [{"type": "tool_call", "value": "{not json"}]},
                ]
            },
            ("bad_tool_call", None),
        ),
        (
            {"messages": [{"role": 3, "content": "x"}]},
            ("bad_role", "messages[0]: role must be a string, got int"),
        ),
    ],
)
def test_openai_rejects(rec, expect):
    got = reason("openai", rec)
    assert got[0] == expect[0] and (expect[1] is None or got[1] == expect[1])


def test_openai_record_meta_object_is_kept():
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    meta = {"synthetic": True, "generator_model": "m", "prompt_hash": "abc"}
    (row,) = convert("openai", {"messages": msgs, "meta": meta})
    assert json.loads(row["meta"]) == meta
    (plain,) = convert("openai", {"messages": msgs})
    assert plain["meta"] is None
    assert reason("openai", {"messages": msgs, "meta": "x"}) == (
        "bad_field",
        "meta: expected an object, got str",
    )


# ------------------------------------------------------------------ alpaca / self-instruct / kto / text


def test_alpaca_input_history_and_system():
    [row] = convert(
        "alpaca",
        {
            "instruction": "Translate",
            "input": "hola",
            "output": "hello",
            "system": "S",
            "history": [["q1", "a1"]],
        },
    )
    assert [(m["role"], m["content"]) for m in row["messages"]] == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "Translate\n\nhola"),
        ("assistant", "hello"),
    ]
    assert row["system"] == "S"
    assert reason("alpaca", {"instruction": "x", "input": ""}) == (
        "bad_field",
        "output: expected a string, got missing",
    )
    assert reason("alpaca", {"instruction": "x", "output": 5})[0] == "bad_field"
    assert (
        reason("alpaca", {"instruction": "x", "output": "y", "history": [["only one"]]})[1]
        == "history[0]: expected a [user, assistant] pair"
    )


def test_self_instruct_rows_per_instance_with_stable_ids():
    rows = convert(
        "self_instruct",
        {
            "id": "seed_1",
            "instruction": "Add",
            "is_classification": False,
            "instances": [{"input": "1+1", "output": "2"}, {"input": "", "output": "0"}],
        },
    )
    assert [r["id"] for r in rows] == ["seed_1#0", "seed_1#1"]
    assert rows[0]["messages"][0]["content"] == "Add\n\n1+1" and rows[1]["messages"][0]["content"] == "Add"


def test_kto_label_must_be_boolean_and_prompt_completion_shape():
    [row] = convert("kto", {"prompt": "2+2?", "completion": "4", "label": True})
    assert row["kind"] == "kto" and row["label"] is True and row["messages"][-1]["content"] == "4"
    assert reason(
        "kto",
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "label": 1},
    ) == ("bad_label", "label must be true or false, got 1")


def test_text_documents_keep_scalar_fields_in_meta():
    [row] = convert("text", {"text": "A document.", "label": 1, "url": "u"})
    assert row["kind"] == "pretrain" and row["messages"] == [] and row["text"] == "A document."
    assert json.loads(row["meta"]) == {"label": 1, "url": "u"}
    assert reason("text", {"text": "  "})[0] == "empty_content"


# ------------------------------------------------------------------ sharegpt


def test_sharegpt_gpt_then_function_call_merge_and_observation_links():
    [row] = convert(
        "sharegpt",
        {
            "conversations": [
                {"from": "human", "value": "Convert 5 USD"},
                {"from": "gpt", "value": "Let me check."},
                {"from": "function_call", "value": '{"name": "fx", "arguments": {"amount": 5}}'},
                {"from": "observation", "value": '{"eur": 4.6}'},
                {"from": "gpt", "value": "4.60 EUR."},
            ],
            "tools": '[{"name": "fx"}]',
            "system": "S",
        },
    )
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    merged = row["messages"][1]
    assert merged["content"] == "Let me check." and merged["tool_calls"][0]["name"] == "fx"
    assert row["messages"][2]["tool_call_id"] == merged["tool_calls"][0]["id"]
    assert row["system"] == "S" and row["tools"] == '[{"name": "fx"}]'


def test_sharegpt_rejects():
    assert reason(
        "sharegpt", {"conversations": [{"from": "human", "value": "x"}, {"from": "wizard", "value": "y"}]}
    ) == ("unknown_role", "conversations[1]: unknown role 'wizard'")
    assert (
        reason(
            "sharegpt",
            {"conversations": [{"from": "human", "value": "x"}, {"from": "function_call", "value": "{bad"}]},
        )[0]
        == "bad_tool_call"
    )
    assert (
        reason(
            "sharegpt",
            {
                "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}],
                "tools": "{bad",
            },
        )[0]
        == "bad_tools"
    )


# ------------------------------------------------------------------ preference


RANKED = {
    "context": "Name a fruit",
    "responses": [
        {"text": "Apple", "rank": 1},
        {"text": "Car", "rank": 3},
        {"text": "Pear", "rank": 1},
        {"text": "Rock", "rank": 2},
    ],
}


def test_ranked_responses_pairs_best_vs_rest_and_all_ordered():
    best = convert("ranked_responses", RANKED)
    assert [r["id"].split("#")[1] for r in best] == ["r0>r1", "r0>r3", "r2>r1", "r2>r3"]  # ties never pair
    allo = convert("ranked_responses", RANKED, FormatOptions(preference_pairs="all_ordered"))
    assert len(allo) == 5  # (1,3),(1,2) x2 + (2,3)
    assert all(r["chosen"][0]["role"] == "assistant" for r in allo)
    assert (
        reason(
            "ranked_responses",
            {"context": "x", "responses": [{"text": "a", "rank": 1}, {"text": "b", "rank": 1}]},
        )[0]
        == "no_preference_pair"
    )


def test_prompt_chosen_rejected_strings_and_lists():
    [row] = convert(
        "prompt_chosen_rejected",
        {
            "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
            "chosen": [{"role": "assistant", "content": "good"}],
            "rejected": "bad",
        },
    )
    assert row["system"] == "S" and row["messages"][-1]["content"] == "Q"
    assert (row["chosen"][0]["content"], row["rejected"][0]["content"]) == ("good", "bad")
    assert (
        reason("prompt_chosen_rejected", {"prompt": "Q", "chosen": "same", "rejected": "same"})[0]
        == "identical_pair"
    )


def test_hh_transcripts_share_a_multi_turn_prompt():
    base = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me a joke"
    [row] = convert(
        "hh_rlhf",
        {"chosen": base + "\n\nAssistant: Why did the chicken...", "rejected": base + "\n\nAssistant: No."},
    )
    assert [m["content"] for m in row["messages"]] == ["Hi", "Hello", "Tell me a joke"]
    assert (row["chosen"][0]["content"], row["rejected"][0]["content"]) == ("Why did the chicken...", "No.")
    assert (
        reason("hh_rlhf", {"chosen": "Human: no leading blank lines", "rejected": "x"})[0] == "bad_transcript"
    )


def test_chosen_rejected_messages_split_at_the_shared_prefix():
    prompt = [{"role": "user", "content": [{"type": "text", "value": "Q"}]}]
    [row] = convert(
        "chosen_rejected_messages",
        {
            "chosen_messages": prompt + [{"role": "assistant", "content": "A"}],
            "rejected_messages": prompt + [{"role": "assistant", "content": "B"}],
        },
    )
    assert [m["content"] for m in row["messages"]] == ["Q"] and row["chosen"][0]["content"] == "A"


# ------------------------------------------------------------------ oasst


def node(mid, role, text, replies=(), **kw):
    return {"message_id": mid, "role": role, "text": text, "replies": list(replies), **kw}


TREE = node(
    "p",
    "prompter",
    "Q?",
    [
        node(
            "a1",
            "assistant",
            "A1",
            [node("p2", "prompter", "More?", [node("a3", "assistant", "A3", rank=0)])],
            rank=1,
        ),
        node("a2", "assistant", "A2", rank=0),
        node("a4", "assistant", "gone", rank=2, deleted=True),
        node("a5", "assistant", "bad", rank=3, review_result=False),
    ],
    lang="en",
)


def test_oasst_all_paths_and_best_path():
    rows = convert("oasst_tree", {"message_tree_id": "t", "prompt": TREE})
    assert sorted(r["id"] for r in rows) == ["a2", "a3"]
    assert json.loads(rows[0]["meta"])["lang"] == "en"
    best = convert("oasst_tree", {"message_tree_id": "t", "prompt": TREE}, FormatOptions(oasst_paths="best"))
    assert [r["id"] for r in best] == ["a2"]  # rank 0 at the first step
    keep = convert(
        "oasst_tree", {"message_tree_id": "t", "prompt": TREE}, FormatOptions(oasst_skip_review_failed=False)
    )
    assert sorted(r["id"] for r in keep) == ["a2", "a3", "a5"]
    assert (
        reason("oasst_tree", {"message_tree_id": "t", "prompt": node("p", "prompter", "alone")})[0]
        == "oasst_no_conversation"
    )


def test_oasst_flat_accounts_for_every_line():
    flat = [
        {"message_id": "p", "parent_id": None, "role": "prompter", "text": "Q"},
        {"message_id": "a", "parent_id": "p", "role": "assistant", "text": "A", "rank": 0},
        {"message_id": "b", "parent_id": "p", "role": "assistant", "text": "B", "rank": 1},
        {"message_id": "d", "parent_id": "p", "role": "assistant", "text": "D", "deleted": True},
        {"message_id": "d2", "parent_id": "d", "role": "prompter", "text": "under deleted"},
        {"message_id": "o", "parent_id": "zzz", "role": "assistant", "text": "orphan"},
        {"message_id": "p", "parent_id": None, "role": "prompter", "text": "dup"},
        {"message_id": "q", "parent_id": "a", "role": "prompter", "text": "unanswered"},
    ]
    lines = list(enumerate(flat, start=1))
    res = ADAPTERS["oasst_flat"].convert_file(lines, OPTS)
    assert sorted((ln, p["id"]) for ln, p in res.rows) == [(2, "a"), (3, "b")]
    assert sorted((ln, e.reason) for ln, e in res.rejects) == [
        (4, "oasst_deleted"),
        (5, "oasst_pruned"),
        (6, "oasst_orphan"),
        (7, "oasst_duplicate_id"),
        (8, "oasst_pruned"),
    ]
    best = ADAPTERS["oasst_flat"].convert_file(lines, FormatOptions(oasst_paths="best"))
    assert [p["id"] for _, p in best.rows] == ["a"]
    assert (3, "oasst_pruned") in [(ln, e.reason) for ln, e in best.rejects]


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    "rec, fmt",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "openai"),
        ({"messages": [{"role": "user", "content": "x"}], "label": True}, "kto"),
        ({"instruction": "i", "input": "", "output": "o"}, "alpaca"),
        ({"instruction": "i", "instances": []}, "self_instruct"),
        ({"conversations": []}, "sharegpt"),
        ({"conversations": [], "chosen": {}, "rejected": {}}, "sharegpt_preference"),
        ({"prompt": "p", "chosen": "c", "rejected": "r"}, "prompt_chosen_rejected"),
        ({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"}, "hh_rlhf"),
        ({"context": "c", "responses": []}, "ranked_responses"),
        ({"chosen_messages": [], "rejected_messages": []}, "chosen_rejected_messages"),
        ({"message_tree_id": "t", "prompt": {}}, "oasst_tree"),
        ({"message_id": "m", "text": "t", "replies": []}, "oasst_message"),
        ({"message_id": "m", "parent_id": None, "role": "prompter", "text": "t"}, "oasst_flat"),
        ({"text": "doc"}, "text"),
        ({"foo": 1}, None),
    ],
)
def test_detect_format(rec, fmt):
    assert detect_format([rec]) == fmt


def test_detection_uses_the_majority_and_unknown_names_fail_clearly():
    recs = [{"text": "a"}, {"instruction": "i", "output": "o"}, {"instruction": "j", "output": "p"}]
    assert detect_format(recs) == "alpaca"
    with pytest.raises(ValueError, match="unknown format 'csv'; known: alpaca"):
        get_adapter("csv")
