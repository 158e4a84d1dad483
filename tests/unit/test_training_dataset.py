"""Training-set builder: shapes per method, deterministic split, chat templates, assistant-only labels.
(The session fixtures are in ``tests/training_fixtures.py``.)
"""

from __future__ import annotations

import json
import random
import re

import pytest

from include.training import dataset as ds
from include.training import tokenization as tk
from scripts.tiny_model import write_canonical_parquet

# ------------------------------------------------------------------ builder


def test_sft_examples_are_hf_conversations_with_tool_calls(toolcall_rows):
    row = next(r for r in toolcall_rows if any(m["tool_calls"] for m in r["messages"]))
    ex, reason = ds.example_for("sft", row)
    assert reason is None and ex["id"] == row["id"]
    calls = [m for m in ex["messages"] if m.get("tool_calls")]
    call = calls[0]["tool_calls"][0]
    assert call["type"] == "function" and isinstance(call["function"]["arguments"], dict)  # parsed JSON
    tool_msgs = [m for m in ex["messages"] if m["role"] == "tool"]
    assert tool_msgs and tool_msgs[0]["tool_call_id"] == call["id"]
    assert ex["tools"][0]["type"] == "function" and "name" in ex["tools"][0]["function"]
    assert {m["role"] for m in ex["messages"]} == {"user", "assistant", "tool"}


def test_system_prompt_becomes_first_message():
    row = {
        "id": "a",
        "kind": "sft",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello", "loss_weight": 0.5},
        ],
    }
    ex, _ = ds.example_for("sft", row)
    assert ex["messages"][0] == {"role": "system", "content": "Be brief."}
    assert ex["messages"][2]["loss_weight"] == 0.5


def test_shapes_per_method(sample_rows):
    pref = next(r for r in sample_rows if r["kind"] == "preference")
    sft = next(r for r in sample_rows if r["kind"] == "sft")
    for method in ("reward", "dpo"):
        ex, _ = ds.example_for(method, pref)
        assert set(ex) == {"id", "prompt", "chosen", "rejected", "tools"}
        assert ex["prompt"][-1]["role"] == "user" and ex["chosen"][0]["role"] == "assistant"
        assert ds.example_for(method, sft) == (None, f"kind_sft_not_used_by_{method}")
    ex, _ = ds.example_for("grpo", sft)
    assert set(ex) == {"id", "prompt", "tools"} and all(m["role"] != "assistant" for m in ex["prompt"])
    assert ds.example_for("sft", pref)[1] == "kind_preference_not_used_by_sft"


def test_split_is_deterministic_by_id_and_order_independent(sample_rows):
    ts1 = ds.build_training_set(sample_rows, "dpo", eval_fraction=0.25)
    shuffled = list(sample_rows)
    random.Random(7).shuffle(shuffled)
    ts2 = ds.build_training_set(shuffled, "dpo", eval_fraction=0.25)
    assert [e["id"] for e in ts1.eval] == [e["id"] for e in ts2.eval]
    assert ts1.info["dataset_content_hash"] == ts2.info["dataset_content_hash"]
    assert ts1.info["eval_ids_hash"] == ts2.info["eval_ids_hash"]
    assert len(ts1.train) + len(ts1.eval) == 40 and 4 <= len(ts1.eval) <= 16
    # the split of a row depends on its id only: a row keeps its side when others are removed
    eval_ids = {e["id"] for e in ts1.eval}
    smaller = ds.build_training_set(sample_rows[::2], "dpo", eval_fraction=0.25)
    assert {e["id"] for e in smaller.eval} <= eval_ids
    other_salt = ds.build_training_set(sample_rows, "dpo", eval_fraction=0.25, split_seed="other")
    assert {e["id"] for e in other_salt.eval} != eval_ids


def test_min_eval_rows_and_skips_are_reported(sample_rows):
    ts = ds.build_training_set(sample_rows[:3], "sft", eval_fraction=0.01, min_eval_rows=1)
    assert len(ts.eval) == 1 and len(ts.train) == 2
    assert ts.info["skipped"] == {}
    ts = ds.build_training_set(sample_rows, "sft", eval_fraction=0.1)
    assert ts.info["skipped"] == {"kind_preference_not_used_by_sft": 40}
    with pytest.raises(ds.DatasetError, match="no rows usable for method=sft"):
        ds.build_training_set([r for r in sample_rows if r["kind"] == "preference"], "sft")


def test_write_and_load_round_trip_and_prepare_from_parquet(tmp_path, canonical_dir):
    from include.config.training import DataSettings

    ts = ds.prepare_training_set(str(canonical_dir), "sft", DataSettings(eval_fraction=0.2))
    assert ts.info["source_uri"] == str(canonical_dir) and ts.info["rows_in"] == 68
    out = ds.write_training_set(ts, str(tmp_path / "set"))
    assert ds.is_training_set(out)
    again = ds.prepare_training_set(out, "sft", DataSettings())
    assert again.train == ts.train and again.eval == ts.eval and again.info == ts.info
    with pytest.raises(ds.DatasetError, match="built for method=sft"):
        ds.prepare_training_set(out, "dpo", DataSettings())


def test_dataset_manifest_is_found_above_curated(tmp_path, sample_rows):
    staging = tmp_path / "_staging" / "run1"
    write_canonical_parquet(sample_rows[:5], staging / "publish" / "curated")
    (staging / "manifest.json").write_text("{}")
    assert ds.find_dataset_manifest(str(staging / "publish" / "curated")) == str(staging / "manifest.json")
    assert ds.find_dataset_manifest(str(tmp_path / "nothing" / "curated")) is None


# ------------------------------------------------------------------ templates and labels


def test_template_resolution(tokenizer):
    assert tokenizer.chat_template is None  # tiny tokenizer, like most base models
    tpl, src = tk.resolve_chat_template(tokenizer, None, assistant_only_loss=True)
    assert src == "named:llmops_chatml" and tk.has_generation_markers(tpl)
    tpl, src = tk.resolve_chat_template(tokenizer, "qwen2_5_training", assistant_only_loss=True)
    assert src == "named:qwen2_5_training" and "<|im_start|>" in tpl
    inline = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    with pytest.raises(ds.DatasetError, match="no \\{% generation %\\} markers"):
        tk.resolve_chat_template(tokenizer, inline, assistant_only_loss=True)
    assert tk.resolve_chat_template(tokenizer, inline, assistant_only_loss=False) == (inline, "inline")
    with pytest.raises(ds.DatasetError, match="unknown chat template 'nope'"):
        tk.resolve_chat_template(tokenizer, "nope", assistant_only_loss=True)


def _segments(text: str) -> list[tuple[str, int, int, int]]:
    """Independent parse of the rendered ChatML: (role, turn start, body start, end incl. <|im_end|>)."""
    out = []
    for m in re.finditer(r"<\|im_start\|>(\w+)\n", text):
        end = text.index("<|im_end|>", m.end()) + len("<|im_end|>")
        out.append((m.group(1), m.start(), m.end(), end))
    return out


def test_labels_mask_everything_but_assistant_turns_token_by_token(toolcall_rows, tokenizer):
    """A real ShareGPT tool-call conversation: system (tool schemas), user and tool tokens carry
    -100; every token of each assistant turn (text, tool-call JSON and its <|im_end|>) is trained."""
    row = next(
        r
        for r in toolcall_rows
        if sum(bool(m["tool_calls"]) for m in r["messages"]) >= 1
        and sum(m["role"] == "assistant" for m in r["messages"]) >= 3
    )
    ex, _ = ds.example_for("sft", row)
    template, _ = tk.resolve_chat_template(tokenizer, None, True)
    tok = tk.tokenize_sft(ex, tokenizer, template, max_length=100_000)
    ids, labels = tok["input_ids"], tok["labels"]

    text = tokenizer.apply_chat_template(
        ex["messages"], tools=ex["tools"], chat_template=template, tokenize=False
    )
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert enc["input_ids"] == ids  # the same tokens, so offsets map tokens to characters
    segs = _segments(text)
    assert [s[0] for s in segs][:1] == ["system"] and {"user", "assistant", "tool"} <= {s[0] for s in segs}

    roles_seen = {"system": 0, "user": 0, "tool": 0, "assistant": 0, "between": 0}
    for tid, label, (start, _end) in zip(ids, labels, enc["offset_mapping"], strict=True):
        seg = next((s for s in segs if s[1] <= start < s[3]), None)
        if seg is None:  # the "\n" between turns
            roles_seen["between"] += 1
            assert label == -100
            continue
        role, turn_start, body_start, turn_end = seg
        trained = role == "assistant" and start >= body_start
        roles_seen[role] += 1
        assert label == (tid if trained else -100), (role, tokenizer.decode([tid]), start)
    assert all(roles_seen[r] > 0 for r in ("system", "user", "tool", "assistant"))

    # the tool call JSON and every assistant <|im_end|> are trained; no system/user/tool token is
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    n_assistant = sum(s[0] == "assistant" for s in segs)
    assert sum(1 for t, lab in zip(ids, labels, strict=True) if t == im_end and lab != -100) == n_assistant
    call_tok = tokenizer.convert_tokens_to_ids("<tool_call>")
    assert any(t == call_tok and lab == call_tok for t, lab in zip(ids, labels, strict=True))
    trained_text = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])
    first_user = next(m["content"] for m in ex["messages"] if m["role"] == "user")
    assert first_user not in trained_text
    assert json.dumps(ex["tools"][0])[:40] not in trained_text


def test_loss_weight_zero_assistant_turn_is_context_only(tokenizer):
    template, _ = tk.resolve_chat_template(tokenizer, None, True)
    ex = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "old answer", "loss_weight": 0.0},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "new answer"},
        ]
    }
    tok = tk.tokenize_sft(ex, tokenizer, template, 1000)
    trained = tokenizer.decode(
        [t for t, lab in zip(tok["input_ids"], tok["labels"], strict=True) if lab != -100]
    )
    assert trained == "new answer<|im_end|>"


def test_token_statistics_and_truncation(sample_rows, tokenizer):
    template, _ = tk.resolve_chat_template(tokenizer, None, True)
    examples = [ds.example_for("sft", r)[0] for r in sample_rows if r["kind"] == "sft"]
    full, stats = tk.tokenized_sft_dataset(examples, tokenizer, template, 100_000, True)
    assert stats["tokens_total"] == sum(len(x) for x in full["input_ids"])
    assert 0 < stats["tokens_trained"] < stats["tokens_total"]
    assert stats["pct_tokens_trained"] == round(100 * stats["tokens_trained"] / stats["tokens_total"], 2)
    short, stats128 = tk.tokenized_sft_dataset(examples, tokenizer, template, 128, True)
    assert max(len(x) for x in short["input_ids"]) <= 128 and stats128["truncated"] > 0
    everything, all_stats = tk.tokenized_sft_dataset(examples, tokenizer, template, 128, False)
    assert all_stats["pct_tokens_trained"] == 100.0


def test_fit_prompt_and_pair_truncation(tokenizer):
    template, _ = tk.resolve_chat_template(tokenizer, None, False)
    prompt = [{"role": "system", "content": "sys"}] + [
        {"role": r, "content": f"turn {i} " * 20} for i, r in enumerate(["user", "assistant"] * 3 + ["user"])
    ]
    need = tk._token_len([prompt[0], *prompt[-3:]], tokenizer, template, None, True)
    fitted, fits = tk.fit_prompt(prompt, tokenizer, template, budget=need)
    assert fits and fitted == [prompt[0], *prompt[-3:]]  # oldest turns dropped, starts with a user turn
    alone, fits = tk.fit_prompt(prompt, tokenizer, template, budget=5)
    assert not fits and alone == [prompt[0], prompt[-1]]
    assert tk.truncate_pair(list(range(10)), list(range(100, 105)), 12) == list(range(3, 10)) + list(
        range(100, 105)
    )
    assert tk.truncate_pair(list(range(10)), list(range(100, 120)), 10) == list(range(5, 10)) + list(
        range(100, 105)
    )
