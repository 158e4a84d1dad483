"""Tokenized SFT sets in the lakehouse, built once per key and reused by every later run.

``build_set`` calls :func:`prepare`: the chat-templated, tokenized train / eval splits
(``input_ids``, ``labels`` with the assistant-only mask, and when packed ``seq_lengths`` and
``position_ids`` that restart per example) are written as Parquet under
``<cache_root>/<key>/`` with ``tokenized.json`` (key parts, token statistics, mask check)
written last. The key hashes everything the tokens depend on: the dataset content and split,
the tokenizer, the template, ``max_length``, packing, the method and the loss mask setting.
A run that finds ``tokenized.json`` for its key logs ``reusing tokenized set <key>`` and
tokenizes nothing. The training entry point (:func:`load_datasets`, every backend) reads the
set the training set points at when its own tokenizer and template give the same key.

Every build runs :func:`include.training.mask_check.check_masks`, and every prepare applies
the gate (``data.min_supervised_tokens``, ``data.max_truncated_share``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time

from include import storage
from include.training import tokenization as tk
from include.training.dataset import DatasetError, TrainingSet
from include.training.mask_check import check_masks

log = logging.getLogger(__name__)

#: bump when the row layout or the tokenization code changes meaning
FORMAT_VERSION = 1
META = "tokenized.json"
SPLITS = ("train", "eval")


def tokenizer_hash(tokenizer) -> str:
    """sha256 of what turns text into ids: the fast tokenizer's JSON (else the vocab) and special tokens."""
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    h.update(str(tokenizer.pad_token_id).encode())
    return h.hexdigest()[:16]


def key_parts(method: str, info: dict, tokenizer, template: str, data_cfg) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "method": method,
        "dataset_content_hash": info.get("dataset_content_hash"),
        "train_ids_hash": info.get("train_ids_hash"),
        "eval_ids_hash": info.get("eval_ids_hash"),
        "tokenizer_hash": tokenizer_hash(tokenizer),
        "template_hash": tk.template_hash(template),
        "max_length": data_cfg.max_length,
        "packing": data_cfg.packing,
        "assistant_only_loss": data_cfg.assistant_only_loss,
    }


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


# ------------------------------------------------------------------ packing


def pack(rows: list[dict], max_length: int, strategy: str) -> list[dict]:
    """Token rows -> sequences of at most ``max_length`` tokens.

    ``greedy`` fills one bin at a time in order; ``first_fit`` places the longest rows first,
    each into the first bin with room. ``seq_lengths`` keeps the boundaries (trl's padding-free
    collator restarts position ids there) and ``position_ids`` restart at 0 per example, from which
    transformers masks attention block-diagonally (no cross-example attention; tested).
    """
    order = sorted(rows, key=lambda r: -len(r["input_ids"])) if strategy == "first_fit" else rows
    bins: list[list[dict]] = []
    room: list[int] = []
    for row in order:
        n = len(row["input_ids"])
        target = None
        if strategy == "first_fit":
            target = next((i for i, r in enumerate(room) if r >= n), None)
        elif bins and room[-1] >= n:
            target = len(bins) - 1
        if target is None:
            bins.append([])
            room.append(max_length)
            target = len(bins) - 1
        bins[target].append(row)
        room[target] -= n
    return [
        {
            "input_ids": [t for r in b for t in r["input_ids"]],
            "labels": [t for r in b for t in r["labels"]],
            "seq_lengths": [len(r["input_ids"]) for r in b],
            "position_ids": [i for r in b for i in range(len(r["input_ids"]))],
        }
        for b in bins
    ]


# ------------------------------------------------------------------ build / reuse


def gate(stats: dict, data_cfg) -> None:
    """Fail (naming the numbers) when too little is supervised or too much is truncated."""
    if stats["tokens_trained"] < data_cfg.min_supervised_tokens:
        raise DatasetError(
            f"tokenized train split has {stats['tokens_trained']} supervised tokens "
            f"({stats['examples']} examples, {stats['tokens_total']} tokens), fewer than "
            f"data.min_supervised_tokens={data_cfg.min_supervised_tokens}"
        )
    if stats["truncated_share"] > data_cfg.max_truncated_share:
        raise DatasetError(
            f"{stats['truncated']} of {stats['examples']} train examples ({stats['truncated_share']:.1%}) are "
            f"cut at max_length={data_cfg.max_length} ({stats['truncated_tokens']} tokens lost), more than "
            f"data.max_truncated_share={data_cfg.max_truncated_share}: raise max_length or filter long rows"
        )


def _write_parquet(rows: list[dict], uri: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ("input_ids", "labels", "seq_lengths", "position_ids")
    data = {c: [r[c] for r in rows] for c in columns if rows and c in rows[0]}
    table = pa.table({c: pa.array(v, type=pa.list_(pa.int32())) for c, v in data.items()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    storage.write_bytes(uri, buf.getvalue())


def read_rows(uri: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(storage.read_bytes(uri))).to_pylist()


def _build(ts: TrainingSet, tokenizer, template: str, data_cfg) -> tuple[dict, dict]:
    splits, stats = {}, {}
    for name in SPLITS:
        examples = getattr(ts, name)
        rows, stats[name] = tk.tokenize_examples(
            examples, tokenizer, template, data_cfg.max_length, data_cfg.assistant_only_loss
        )
        if data_cfg.assistant_only_loss:
            stats[name]["mask_checked"] = check_masks(
                examples, rows, tokenizer, data_cfg.max_length, data_cfg.mask_check_sample
            )
        kept = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows if r is not None]
        if data_cfg.packing != "none":
            kept = pack(kept, data_cfg.max_length, data_cfg.packing)
        stats[name]["sequences"] = len(kept)
        splits[name] = kept
    if not splits["train"]:
        raise DatasetError(f"no SFT example has a trained token within max_length={data_cfg.max_length}")
    return splits, stats


def prepare(
    ts: TrainingSet, tokenizer, template: str, data_cfg, cache_root: str, method: str = "sft"
) -> dict:
    """The tokenized set for ``ts`` under ``cache_root``: reused when its key exists, else built
    (mask-checked) and written. Returns ``{key, uri, reused, seconds, parts, stats}``."""
    started = time.time()
    parts = key_parts(method, ts.info, tokenizer, template, data_cfg)
    key = cache_key(parts)
    uri = storage.join(cache_root, key)
    meta_uri = storage.join(uri, META)
    if storage.exists(meta_uri):
        meta = storage.read_json(meta_uri)
        log.info("reusing tokenized set %s (%s)", key, uri)
        reused = True
    else:
        splits, stats = _build(ts, tokenizer, template, data_cfg)
        for name, rows in splits.items():
            if rows:
                _write_parquet(rows, storage.join(uri, f"{name}.parquet"))
        meta = {"key": key, "uri": uri, "parts": parts, "stats": stats, "built_seconds": 0.0}
        meta["built_seconds"] = round(time.time() - started, 3)
        storage.write_json(meta_uri, meta)
        log.info("built tokenized set %s in %.2fs -> %s", key, meta["built_seconds"], uri)
        reused = False
    gate(meta["stats"]["train"], data_cfg)
    return {
        "key": key,
        "uri": uri,
        "reused": reused,
        "seconds": round(time.time() - started, 3),
        "parts": parts,
        "stats": meta["stats"],
    }


def load_datasets(ts: TrainingSet, tokenizer, template: str, data_cfg, method: str = "sft"):
    """``(train, eval | None, stats)`` as ``datasets.Dataset`` from the tokenized set ``ts`` points
    at, or None when it points at none or this tokenizer / template / config give another key."""
    ref = ts.info.get("tokenized") or {}
    if not ref.get("uri"):
        return None
    key = cache_key(key_parts(method, ts.info, tokenizer, template, data_cfg))
    if key != ref.get("key") or not storage.exists(storage.join(ref["uri"], META)):
        log.warning(
            "tokenized set %s does not match this run (key %s): tokenizing again", ref.get("key"), key
        )
        return None
    from datasets import Dataset

    out = []
    for name in SPLITS:
        split_uri = storage.join(ref["uri"], f"{name}.parquet")
        rows = read_rows(split_uri) if storage.exists(split_uri) else []
        for r in rows:
            r.pop("position_ids", None)  # trl derives them from seq_lengths
        out.append(Dataset.from_list(rows) if rows else None)
    print(f"reading tokenized set {key} from {ref['uri']} (no tokenization)", flush=True)
    return out[0], out[1], ref.get("stats") or {}


def attach(ts: TrainingSet, uri: str) -> dict:
    """Point ``ts`` at the tokenized set at ``uri`` (a remote job's copy, e.g. SageMaker's
    ``tokenized`` channel, or the set's S3 folder): :func:`load_datasets` then reads its Parquet
    when the key matches this run instead of tokenizing. Raises DatasetError when ``uri`` has no set."""
    meta_uri = storage.join(uri, META)
    if not storage.exists(meta_uri):
        raise DatasetError(f"tokenized set: no {META} under {uri}")
    meta = storage.read_json(meta_uri)
    ts.info["tokenized"] = {"key": meta["key"], "uri": uri, "parts": meta["parts"], "stats": meta["stats"]}
    return ts.info["tokenized"]


def prepare_for_config(cfg, ts: TrainingSet, cache_root: str | None) -> dict | None:
    """:func:`prepare` with the run's tokenizer and chat template (SFT with ``data.tokenized_cache``);
    records the set in ``ts.info["tokenized"]`` (so ``trainset.json`` and the registry manifest carry
    its key and token statistics). None when the method or config tokenizes inside training."""
    if cfg.method != "sft" or not cfg.data.tokenized_cache or not cache_root:
        return None
    from include.training.models import load_tokenizer

    tokenizer = load_tokenizer(cfg)
    template, _ = tk.resolve_chat_template(tokenizer, cfg.data.chat_template, cfg.data.assistant_only_loss)
    out = prepare(ts, tokenizer, template, cfg.data, cache_root, cfg.method)
    ts.info["tokenized"] = {k: out[k] for k in ("key", "uri", "parts", "stats")}
    return out
