"""Tokenized SFT sets: built once per key, reused, mask-checked on every build, packed, gated.

Real tiny tokenizer (trained on real texts) and canonical rows from the real demo files.
"""

from __future__ import annotations

import logging

import pytest

from include.config.training import DataSettings
from include.training import dataset as ds
from include.training import tokenization as tk
from include.training import tokenized_set as tks
from include.training.mask_check import MaskError, check_example, supervised_spans

#: a template that wraps every turn, the user's too, in {% generation %}: user text under labels
BROKEN_TEMPLATE = (
    "{%- for message in messages -%}{{- '<|im_start|>' + message.role + '\\n' -}}"
    "{%- generation -%}{{- message.content + '<|im_end|>\\n' -}}{%- endgeneration -%}{%- endfor -%}"
)


@pytest.fixture(scope="module")
def template(tokenizer):
    return tk.resolve_chat_template(tokenizer, None, True)[0]


@pytest.fixture(scope="module")
def trainset(sample_rows):
    return ds.build_training_set(sample_rows, "sft", eval_fraction=0.2, source_uri="mem")


def test_second_prepare_reuses_the_set_by_key(tmp_path, trainset, tokenizer, template, caplog):
    data = DataSettings(max_length=128)
    first = tks.prepare(trainset, tokenizer, template, data, str(tmp_path))
    assert not first["reused"]
    with caplog.at_level(logging.INFO, logger="include.training.tokenized_set"):
        second = tks.prepare(trainset, tokenizer, template, data, str(tmp_path))
    assert second["reused"] and second["key"] == first["key"]
    assert f"reusing tokenized set {first['key']}" in caplog.text
    assert second["stats"] == first["stats"]
    # any key part changes the key: max length, packing, template
    for other in (
        (template, DataSettings(max_length=96)),
        (template, DataSettings(max_length=128, packing="greedy")),
        (tk.load_named_template("llmops_chatml") + " ", data),
    ):
        assert tks.prepare(trainset, tokenizer, other[0], other[1], str(tmp_path))["key"] != first["key"]


def test_stats_equal_the_written_tokens(tmp_path, trainset, tokenizer, template):
    out = tks.prepare(trainset, tokenizer, template, DataSettings(max_length=64), str(tmp_path))
    rows = tks.read_rows(f"{out['uri']}/train.parquet")
    st = out["stats"]["train"]
    assert st["examples"] == len(rows) == st["sequences"]
    assert st["tokens_total"] == sum(len(r["input_ids"]) for r in rows)
    assert st["tokens_trained"] == sum(1 for r in rows for x in r["labels"] if x != -100)
    assert st["truncated"] > 0 and st["truncated_tokens"] > 0  # 64 tokens cut some real answers
    assert sum(s["examples"] for s in st["by_source"].values()) == st["examples"]
    assert sum(s["tokens_trained"] for s in st["by_source"].values()) == st["tokens_trained"]
    assert st["mask_checked"] == st["examples"]  # the sample (64) covers the whole train split


def test_mask_check_fails_a_build_whose_template_supervises_user_text(tmp_path, trainset, tokenizer):
    with pytest.raises(MaskError, match=r"example '[^']+'.*user turn.*under labels"):
        tks.prepare(trainset, tokenizer, BROKEN_TEMPLATE, DataSettings(max_length=256), str(tmp_path))
    assert not list(tmp_path.rglob("tokenized.json"))  # nothing is cached from a failed build


def test_mask_check_accepts_tool_calls_and_catches_shifted_labels(toolcall_rows, tokenizer, template):
    exs = [ds.example_for("sft", r)[0] for r in toolcall_rows[:20]]
    for ex in exs:
        row = tk.tokenize_sft(ex, tokenizer, template, 4096)
        assert check_example(ex, row, tokenizer, truncated=False) is None, ex["id"]
    ex = exs[0]
    row = tk.tokenize_sft(ex, tokenizer, template, 4096)
    # labels moved onto the tokens before the first supervised span: the answer is no longer trained
    first = next(i for i, x in enumerate(row["labels"]) if x != -100)
    n = sum(1 for x in row["labels"] if x != -100)
    shifted = [-100] * len(row["labels"])
    shifted[:first] = row["input_ids"][:first]
    assert supervised_spans(row["input_ids"], shifted) and n
    assert check_example(ex, {**row, "labels": shifted}, tokenizer, truncated=False)


@pytest.mark.parametrize("strategy", ["greedy", "first_fit"])
def test_packing_keeps_every_token_and_restarts_positions(tmp_path, trainset, tokenizer, template, strategy):
    plain = tks.prepare(trainset, tokenizer, template, DataSettings(max_length=2048), str(tmp_path))
    packed = tks.prepare(
        trainset, tokenizer, template, DataSettings(max_length=2048, packing=strategy), str(tmp_path)
    )
    rows = tks.read_rows(f"{packed['uri']}/train.parquet")
    flat = tks.read_rows(f"{plain['uri']}/train.parquet")
    assert len(rows) < len(flat) and all(len(r["input_ids"]) <= 2048 for r in rows)
    assert sorted(len(r["input_ids"]) for r in flat) == sorted(n for r in rows for n in r["seq_lengths"])
    for r in rows:
        assert sum(r["seq_lengths"]) == len(r["input_ids"]) == len(r["labels"])
        starts = [i for i, p in enumerate(r["position_ids"]) if p == 0]
        assert [b - a for a, b in zip(starts, starts[1:] + [len(r["input_ids"])], strict=True)] == r[
            "seq_lengths"
        ]
    assert sum(x != -100 for r in rows for x in r["labels"]) == plain["stats"]["train"]["tokens_trained"]


def test_gate_names_the_numbers(tmp_path, trainset, tokenizer, template):
    with pytest.raises(
        ds.DatasetError, match=r"has \d+ supervised tokens .* data.min_supervised_tokens=10000000"
    ):
        tks.prepare(
            trainset,
            tokenizer,
            template,
            DataSettings(max_length=64, min_supervised_tokens=10**7),
            str(tmp_path),
        )
    with pytest.raises(ds.DatasetError, match=r"\d+ of \d+ train examples .* cut at max_length=64"):
        tks.prepare(
            trainset, tokenizer, template, DataSettings(max_length=64, max_truncated_share=0.0), str(tmp_path)
        )


def test_training_reads_the_set_only_when_the_key_matches(tmp_path, trainset, tokenizer, template):
    data = DataSettings(max_length=128, packing="first_fit")
    out = tks.prepare(trainset, tokenizer, template, data, str(tmp_path))
    ts = ds.TrainingSet(trainset.train, trainset.eval, {**trainset.info, "tokenized": out})
    train_ds, eval_ds, stats = tks.load_datasets(ts, tokenizer, template, data)
    assert len(train_ds) == out["stats"]["train"]["sequences"] and "seq_lengths" in train_ds.column_names
    assert eval_ds is not None and stats == out["stats"]
    assert tks.load_datasets(ts, tokenizer, template, DataSettings(max_length=100)) is None
