"""Load the configured evaluation benchmarks and build their hashed n-gram index.

Built once per run on the driver (benchmarks are small: GSM8K test + HumanEval make
~190k distinct 13-grams, ~3 MB of arrays) and broadcast to the executors.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np

from include import storage
from include.decontam.tokens import ngram_hashes, tokenize
from include.normalize import NormalizeOptions


def load_records(uri: str, endpoint: str | None = None) -> tuple[list[dict], str]:
    """Records of a ``.jsonl``, ``.jsonl.gz`` / ``.json.gz`` or ``.parquet`` file and its sha256."""
    data = storage.read_bytes(uri, endpoint)
    digest = hashlib.sha256(data).hexdigest()
    name = uri.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pylist(), digest
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    records = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{uri} line {lineno}: not JSON ({exc.msg})") from None
    return records, digest


def field_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\n".join(field_text(v) for v in value)
    return str(value)


@dataclass
class BenchmarkIndex:
    """Hashed n-grams of every benchmark item, grouped by (tokenization, n)."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (benchmark, item id) per item index
    #: (channel, n) -> (sorted n-gram hashes, item index of each; a hash repeats once per item)
    groups: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    total: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # distinct n-grams per item
    need: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # shared n-grams that contaminate
    ngram: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # n of each item
    lineage: list[dict] = field(default_factory=list)  # per benchmark: name, uri, sha256, counts
    boilerplate: int = 0  # n-grams ignored as shared by more than max_item_frequency items

    @property
    def size(self) -> int:
        return sum(len(k) for k, _ in self.groups.values())


def _required(total: np.ndarray, share: float) -> np.ndarray:
    need = np.ceil(share * total) if share < 1 else np.full(len(total), math.ceil(share))
    return np.maximum(need, 1).astype(np.int64)


def build_index(
    dc, norm: NormalizeOptions = NormalizeOptions(), endpoint: str | None = None
) -> BenchmarkIndex:
    """The index of ``dc.benchmarks`` (a DecontaminateConfig) under its overlap rule."""
    index = BenchmarkIndex()
    pairs: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    long_item: list[bool] = []
    for spec in dc.benchmarks:
        records, digest = load_records(spec.uri, endpoint)
        fields, id_field, code = spec.layout()
        channel = "code" if code else "text"
        counts = {"long": 0, "short": 0, "too_short": 0}
        for i, rec in enumerate(records):
            toks = tokenize([field_text(rec.get(f)) for f in fields], channel, norm)
            longest = max((len(t) for t in toks), default=0)
            if longest >= dc.ngram:
                n, kind = dc.ngram, "long"
            elif sum(len(t) for t in toks) >= dc.short_ngram:
                n, kind = dc.short_ngram, "short"
                toks = [[w for t in toks for w in t]]  # a short item's fields are one sequence
            else:
                counts["too_short"] += 1
                continue
            counts[kind] += 1
            hashes, _ = ngram_hashes(toks, n, skip_numeric=True)
            item = len(index.items)
            index.items.append((spec.name, str(rec.get(id_field)) if id_field else str(i)))
            long_item.append(kind == "long")
            pairs.setdefault((channel, n), []).append((np.unique(hashes), np.full(1, item, np.int32)))
        index.lineage.append(
            {
                "name": spec.name,
                "uri": spec.uri,
                "sha256": digest,
                "records": len(records),
                "fields": fields,
                "tokens": channel,
                "long_items": counts["long"],
                "short_items": counts["short"],
                "too_short_items": counts["too_short"],
            }
        )
    total = np.zeros(len(index.items), np.int64)
    boilerplate = 0
    for key, parts in pairs.items():
        hashes = np.concatenate([h for h, _ in parts])
        items = np.concatenate([np.repeat(it, len(h)) for h, it in parts])
        uniq, inverse, freq = np.unique(hashes, return_inverse=True, return_counts=True)
        keep = freq[inverse] <= dc.max_item_frequency  # shared by many items: not item-specific
        boilerplate += int((freq > dc.max_item_frequency).sum())
        hashes, items = hashes[keep], items[keep]
        order = np.argsort(hashes, kind="stable")
        index.groups[key] = (hashes[order], items[order])
        total += np.bincount(items, minlength=len(total))
    is_long = np.array(long_item, bool)
    index.total, index.ngram = total, np.where(is_long, dc.ngram, dc.short_ngram).astype(np.int64)
    index.need = np.where(
        is_long, _required(total, dc.min_overlap), _required(total, dc.short_min_overlap)
    ).astype(np.int64)
    for entry in index.lineage:
        entry["ngrams"] = int(sum(total[i] for i, (b, _) in enumerate(index.items) if b == entry["name"]))
    index.boilerplate = boilerplate
    return index
