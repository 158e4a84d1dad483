"""Training-set builder: canonical rows -> the dataset each trainer takes.

Step 1, :func:`build_training_set` (no tokenizer needed, runs in the DAG's ``build_set``
task): read the canonical Parquet, keep the rows the method can use, render them in the
Hugging Face conversational shape and split them deterministically:

==========  ============================  ==============================================
method      canonical rows used           one example
==========  ============================  ==============================================
``sft``     ``kind=sft``                  ``{"messages": [...], "tools": [...]|None}``
``reward``  ``kind=preference``           ``{"prompt": [...], "chosen": [...], "rejected": [...]}``
``dpo``     ``kind=preference``           same as reward
``grpo``    ``sft`` and ``preference``    ``{"prompt": [...]}`` (the turns before the first answer)
==========  ============================  ==============================================

Messages follow transformers' chat-template convention: ``system`` becomes the first
message; tool calls are ``{"id", "type": "function", "function": {"name", "arguments": {...}}}``;
tool results have role ``tool`` and ``tool_call_id``; a reasoning trace is
``reasoning_content``; a source ``loss_weight`` is kept (the shipped template does not train
an assistant turn whose weight is 0). The split puts a row in ``eval`` when
``sha256(split_seed + ":" + id)`` falls below ``eval_fraction``: the same id always lands in
the same split, whatever else is in the dataset or the order of the files.

The output folder holds ``train.jsonl``, ``eval.jsonl`` and ``trainset.json`` (counts,
skipped rows by reason, source URI, content hash of the canonical rows, dataset manifest).

Step 2 (training process, needs the tokenizer) is :mod:`include.training.tokenization`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from include import storage
from include.training.examples import (  # noqa: F401  (re-exported: dataset.example_for, …)
    KINDS_FOR_METHOD,
    conversation,
    example_for,
    hf_message,
    hf_tools,
    prompt_turns,
)

log = logging.getLogger(__name__)

TRAINSET_INFO = "trainset.json"
CANONICAL_CONTENT_COLUMNS = (
    "id",
    "kind",
    "system",
    "messages",
    "tools",
    "chosen",
    "rejected",
    "label",
    "text",
)


class DatasetError(ValueError):
    """The dataset cannot feed the requested method (no usable rows, bad template...)."""


# ------------------------------------------------------------------ reading canonical rows


def read_canonical(uri: str, s3_endpoint: str | None = None) -> list[dict]:
    """Rows of every Parquet file under ``uri`` (local or s3://), files in sorted order."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for f in storage.list_files(uri, (".parquet",), s3_endpoint):
        table = pq.read_table(io.BytesIO(storage.read_bytes(f.uri, s3_endpoint)))
        rows.extend(table.to_pylist())
    return rows


def content_hash(rows: list[dict]) -> str:
    """sha256 of the canonical content (not the file layout): rows sorted by id, content columns only."""
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: str(r.get("id"))):
        blob = json.dumps(
            {c: row.get(c) for c in CANONICAL_CONTENT_COLUMNS},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=str,
        )
        h.update(blob.encode())
        h.update(b"\n")
    return h.hexdigest()


def find_dataset_manifest(dataset_uri: str, s3_endpoint: str | None = None) -> str | None:
    """The curation manifest describing ``dataset_uri`` (a ``curated/`` folder): the nearest
    ``manifest.json`` in the folder or up to two levels above it, if any."""
    candidates = [storage.join(dataset_uri, "manifest.json")]
    base = dataset_uri.rstrip("/")
    for _ in range(2):
        if "/" not in base.split("://", 1)[-1]:
            break
        base = base.rsplit("/", 1)[0]
        candidates.append(storage.join(base, "manifest.json"))
    for uri in candidates:
        try:
            if storage.exists(uri, s3_endpoint):
                return uri
        except (OSError, ValueError):
            continue
    return None


# ------------------------------------------------------------------ split


def split_score(row_id: str, salt: str) -> float:
    """Uniform in [0, 1) from the salted id hash."""
    digest = hashlib.sha256(f"{salt}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_examples(
    examples: list[dict], eval_fraction: float, salt: str, min_eval_rows: int = 1
) -> tuple[list[dict], list[dict]]:
    """Deterministic (train, eval) split by id hash; both sorted by id.

    When fewer than ``min_eval_rows`` rows hash below ``eval_fraction`` (tiny sets), the
    lowest-scoring train rows move to eval, keeping at least one train row.
    """
    scored = sorted(((split_score(e["id"], salt), e) for e in examples), key=lambda t: (t[0], t[1]["id"]))
    n_eval = sum(1 for s, _ in scored if s < eval_fraction)
    if eval_fraction > 0 and len(scored) > 1:
        n_eval = min(max(n_eval, min_eval_rows), len(scored) - 1)
    eval_rows = sorted((e for _, e in scored[:n_eval]), key=lambda e: e["id"])
    train_rows = sorted((e for _, e in scored[n_eval:]), key=lambda e: e["id"])
    return train_rows, eval_rows


# ------------------------------------------------------------------ build / load


@dataclass
class TrainingSet:
    train: list[dict]
    eval: list[dict]
    info: dict = field(default_factory=dict)


def build_training_set(
    rows: list[dict],
    method: str,
    *,
    eval_fraction: float = 0.1,
    split_seed: str = "llmops-split-v1",
    min_eval_rows: int = 1,
    max_rows: int | None = None,
    source_uri: str | None = None,
    dataset_manifest: str | None = None,
) -> TrainingSet:
    """Canonical rows -> (train, eval) examples for ``method``; raises DatasetError if none fit."""
    if method not in KINDS_FOR_METHOD:
        raise DatasetError(f"unknown method {method!r}; methods: {', '.join(KINDS_FOR_METHOD)}")
    examples, skipped = [], Counter()
    seen: set[str] = set()
    for row in rows:
        ex, reason = example_for(method, row)
        if ex is None:
            skipped[reason or "unusable"] += 1
            continue
        if ex["id"] in seen:
            skipped["duplicate_id"] += 1
            continue
        seen.add(ex["id"])
        examples.append(ex)
    if not examples:
        kinds = Counter(r.get("kind") for r in rows)
        raise DatasetError(
            f"no rows usable for method={method} in {source_uri or 'the dataset'} ({len(rows)} rows, kinds: "
            f"{dict(kinds)}); {method} needs kind in {KINDS_FOR_METHOD[method]}"
        )
    train, evalset = split_examples(examples, eval_fraction, split_seed, min_eval_rows)
    if max_rows:
        train, evalset = train[:max_rows], evalset[:max_rows]
    info = {
        "method": method,
        "source_uri": source_uri,
        "dataset_manifest": dataset_manifest,
        "dataset_content_hash": content_hash(rows),
        "rows_in": len(rows),
        "examples": len(examples),
        "train_rows": len(train),
        "eval_rows": len(evalset),
        "skipped": dict(sorted(skipped.items())),
        "split": {
            "eval_fraction": eval_fraction,
            "split_seed": split_seed,
            "min_eval_rows": min_eval_rows,
            "by": "sha256(split_seed:id)",
        },
        "max_rows": max_rows,
        "train_ids_hash": hashlib.sha256("\n".join(e["id"] for e in train).encode()).hexdigest()[:16],
        "eval_ids_hash": hashlib.sha256("\n".join(e["id"] for e in evalset).encode()).hexdigest()[:16],
    }
    return TrainingSet(train, evalset, info)


def write_training_set(ts: TrainingSet, out_uri: str, s3_endpoint: str | None = None) -> str:
    """Write ``train.jsonl``, ``eval.jsonl`` and ``trainset.json`` (last) under ``out_uri``."""
    storage.write_jsonl(storage.join(out_uri, "train.jsonl"), ts.train, s3_endpoint)
    storage.write_jsonl(storage.join(out_uri, "eval.jsonl"), ts.eval, s3_endpoint)
    storage.write_json(storage.join(out_uri, TRAINSET_INFO), ts.info, s3_endpoint)
    return out_uri


def is_training_set(uri: str, s3_endpoint: str | None = None) -> bool:
    try:
        return storage.exists(storage.join(uri, TRAINSET_INFO), s3_endpoint)
    except (OSError, ValueError):
        return False


def load_training_set(uri: str, s3_endpoint: str | None = None) -> TrainingSet:
    def read(name: str) -> list[dict]:
        text = storage.read_bytes(storage.join(uri, name), s3_endpoint).decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    info = storage.read_json(storage.join(uri, TRAINSET_INFO), s3_endpoint)
    return TrainingSet(read("train.jsonl"), read("eval.jsonl"), info)


def prepare_training_set(
    dataset_uri: str, method: str, data_cfg, s3_endpoint: str | None = None
) -> TrainingSet:
    """A built training set at ``dataset_uri``, or one built now from canonical Parquet there."""
    if is_training_set(dataset_uri, s3_endpoint):
        ts = load_training_set(dataset_uri, s3_endpoint)
        if (
            ts.info.get("method") not in (method, None)
            and KINDS_FOR_METHOD.get(ts.info.get("method")) != KINDS_FOR_METHOD[method]
        ):
            raise DatasetError(
                f"training set at {dataset_uri} was built for method={ts.info.get('method')}, not {method}"
            )
        return ts
    rows = read_canonical(dataset_uri, s3_endpoint)
    return build_training_set(
        rows,
        method,
        eval_fraction=data_cfg.eval_fraction,
        split_seed=data_cfg.split_seed,
        min_eval_rows=data_cfg.min_eval_rows,
        max_rows=data_cfg.max_rows,
        source_uri=dataset_uri,
        dataset_manifest=find_dataset_manifest(dataset_uri, s3_endpoint),
    )
