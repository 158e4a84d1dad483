"""A tiny local causal LM and a small canonical dataset, for tests and ``make demo``.

Nothing here downloads anything: the tokenizer is trained with ``tokenizers`` on a
few hundred real texts, the model is a randomly initialised 2-layer Llama, and the
canonical rows are converted by the ingest format adapters from LLaMA-Factory's demo
files (ShareGPT tool-call conversations and ShareGPT preference pairs) in
``../shared/datasets``.

The tokenizer deliberately has **no chat template**, like most base-model tokenizers:
training then uses the template shipped in ``include/training/chat_templates/``.

    python -m scripts.tiny_model OUT_DIR [--datasets DIR] [--texts FILE_OR_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from include.formats.base import FormatOptions, RecordError, canonical_json, finalize

#: special tokens of the tiny tokenizer (ChatML markers as in Qwen2 / the shipped template)
BOS, EOS, PAD = "<|endoftext|>", "<|im_end|>", "<|pad|>"
SPECIAL_TOKENS = [BOS, "<|im_start|>", EOS, PAD]
#: plain added tokens the shipped template writes (kept on decode, like Qwen's)
ADDED_TOKENS = ["<tool_call>", "</tool_call>", "<think>", "</think>"]

TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}

GLAIVE = "llamafactory/glaive_toolcall_en_demo.json"
DPO = "llamafactory/dpo_en_demo.json"
ALPACA = "llamafactory/alpaca_en_demo.json"


def _rows(records: Iterable[dict], fmt: str, source: str, source_file: str) -> Iterator[dict]:
    """Canonical rows from ``records`` through the ingest format adapter ``fmt`` (misfits skipped)."""
    from include.formats import get_adapter

    adapter = get_adapter(fmt)
    for line, rec in enumerate(records, 1):
        try:
            for partial in adapter.convert(rec, FormatOptions()):
                yield finalize(
                    partial,
                    fmt=fmt,
                    source=source,
                    source_file=source_file,
                    line=line,
                    record_key=canonical_json(rec),
                )
        except RecordError:
            continue


def sharegpt_rows(records: Iterable[dict], source: str, source_file: str) -> Iterator[dict]:
    """Canonical ``sft`` rows from ShareGPT records (incl. ``function_call`` / ``observation`` turns)."""
    return _rows(records, "sharegpt", source, source_file)


def preference_rows(records: Iterable[dict], source: str, source_file: str) -> Iterator[dict]:
    """Canonical ``preference`` rows from ShareGPT preference records (``conversations`` + ``chosen``/``rejected``)."""
    return _rows(records, "sharegpt_preference", source, source_file)


def _prompt_chars(row: dict) -> int:
    """Characters before the first assistant turn (system, tool schemas, user turns)."""
    n = len(row.get("system") or "") + len(row.get("tools") or "")
    for m in row.get("messages") or []:
        if m["role"] == "assistant":
            break
        n += len(m.get("content") or "")
    return n


def load_sample_rows(
    datasets_dir: str | Path, n_sft: int = 120, n_preference: int = 80, max_prompt_chars: int | None = None
) -> list[dict]:
    """Canonical rows from the real demo files: ``n_sft`` tool-call conversations, ``n_preference`` pairs.

    ``max_prompt_chars`` keeps only rows whose prompt (text before the first answer) is at
    most that long, so that tiny sequence lengths still reach the answers.
    """
    root = Path(datasets_dir)
    glaive = json.loads((root / GLAIVE).read_text())
    dpo = json.loads((root / DPO).read_text())

    def short(r: dict) -> bool:
        return max_prompt_chars is None or _prompt_chars(r) <= max_prompt_chars

    rows = [r for r in sharegpt_rows(glaive, "glaive_toolcall_en_demo", GLAIVE) if short(r)][:n_sft]
    rows += [r for r in preference_rows(dpo, "dpo_en_demo", DPO) if short(r)][:n_preference]
    return rows


def write_canonical_parquet(rows: list[dict], out_dir: str | Path, rows_per_file: int = 100) -> Path:
    """Write rows as canonical Parquet files (``part-00000.parquet`` ...), the shape curation publishes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.schema import arrow_schema, canonical_fields

    schema = arrow_schema(canonical_fields(with_stage_fields=False))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(0, max(len(rows), 1), rows_per_file):
        chunk = rows[i : i + rows_per_file]
        table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in chunk], schema=schema)
        pq.write_table(table, out / f"part-{i // rows_per_file:05d}.parquet")
    return out


def sample_texts(datasets_dir: str | Path, limit: int = 600) -> list[str]:
    """A few hundred real texts (tool-call chats, preference answers, Alpaca) for tokenizer training."""
    root = Path(datasets_dir)
    texts: list[str] = []
    for rec in json.loads((root / GLAIVE).read_text())[:200]:
        texts += [t["value"] for t in rec["conversations"]]
        texts.append(rec.get("tools") or "")
    for rec in json.loads((root / DPO).read_text())[:100]:
        texts += [t["value"] for t in rec["conversations"]] + [
            rec["chosen"]["value"],
            rec["rejected"]["value"],
        ]
    for rec in json.loads((root / ALPACA).read_text())[:200]:
        texts += [rec["instruction"], rec.get("input") or "", rec["output"]]
    return [t for t in texts if t][:limit]


# ------------------------------------------------------------------ tokenizer and model


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer (``tokenizers``) wrapped as a transformers fast tokenizer, no chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # role names and template words appear in every rendered conversation
    extra = ["system", "user", "assistant", "tool", '{"name": ', '"arguments": ']
    tok.train_from_iterator(list(texts) + extra * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)
    fast.add_tokens(ADDED_TOKENS)
    fast.model_max_length = TINY_SHAPE["max_position_embeddings"]
    return fast


def build_tiny_model(
    out_dir: str | Path, texts: Iterable[str], *, vocab_size: int = 512, seed: int = 0, **shape
) -> Path:
    """Save a tokenizer + randomly initialised tiny ``LlamaForCausalLM`` to ``out_dir``; return it.

    Idempotent: an existing complete model folder is returned as is.
    """
    out = Path(out_dir)
    if (
        (out / "config.json").exists()
        and (out / "model.safetensors").exists()
        and (out / "tokenizer.json").exists()
    ):
        return out
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(texts, vocab_size)
    dims = {**TINY_SHAPE, **shape}
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (BOS, EOS, PAD)}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
        tie_word_embeddings=False,
        **dims,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=[ids[EOS], ids[BOS]], pad_token_id=ids[PAD]
    )
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out


def tiny_bert_config(tokenizer, labels: Sequence[str] = (), **fields):
    """A 1-layer ``BertConfig`` sized for ``tokenizer``; ``labels`` name the classes in order and
    ``fields`` override any other field (``hidden_size``, ``num_labels``, ...)."""
    from transformers import BertConfig

    if labels:
        named = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
        fields = {"num_labels": len(labels), **named, **fields}
    shape = {
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 128,
    }
    return BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **(shape | fields))


def build_tiny_classifier(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    num_labels: int = 1,
    labels: Sequence[str] = (),
    seed: int = 0,
) -> Path:
    """Save a tokenizer + randomly initialised 1-layer ``BertForSequenceClassification``.

    ``num_labels=1`` is a regression head (fineweb-edu-classifier style score); ``labels``
    names the classes (and sets their number). Idempotent.
    """
    out = Path(out_dir)
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    import torch
    from transformers import BertForSequenceClassification

    tokenizer = train_tokenizer(texts, vocab_size=300)
    torch.manual_seed(seed)
    regression = {"num_labels": num_labels, "problem_type": "regression" if num_labels == 1 else None}
    config = tiny_bert_config(tokenizer, labels, **({} if labels else regression))
    out.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_from_datasets(out_dir: str | Path, datasets_dir: str | Path, **kwargs) -> Path:
    """:func:`build_tiny_model` with a tokenizer trained on :func:`sample_texts` of ``datasets_dir``."""
    return build_tiny_model(out_dir, sample_texts(datasets_dir), **kwargs)


def main(argv: list[str] | None = None) -> int:
    from include.settings import REPO_ROOT

    p = argparse.ArgumentParser(prog="python -m scripts.tiny_model", description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument(
        "--datasets",
        default=str(REPO_ROOT.parent / "shared" / "datasets"),
        help="folder with llamafactory/*.json used to train the tokenizer",
    )
    args = p.parse_args(argv)
    path = build_from_datasets(args.out_dir, args.datasets)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
