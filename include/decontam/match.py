"""Which benchmark item a training row overlaps, and whether that is contamination."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from include.decontam.benchmarks import BenchmarkIndex
from include.decontam.tokens import ngram_hashes, tokenize
from include.normalize import NormalizeOptions


@dataclass(frozen=True)
class Match:
    benchmark: str
    item: str
    shared: int  # distinct item n-grams found in the row
    total: int  # the item's distinct n-grams
    ngram: int

    @property
    def detail(self) -> str:
        return (
            f"{self.benchmark} item {self.item}: {self.shared}/{self.total} of its {self.ngram}-grams "
            f"({100 * self.shared / self.total:.0f}%)"
        )


def _shared_counts(hashes: np.ndarray, counts: np.ndarray, keys: np.ndarray, items: np.ndarray):
    """(row, item, distinct shared n-grams) for every row/item pair sharing any n-gram."""
    row = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((hashes, row))
    hashes, row = hashes[order], row[order]
    first = np.ones(len(hashes), bool)
    first[1:] = (hashes[1:] != hashes[:-1]) | (row[1:] != row[:-1])  # each n-gram once per row
    hashes, row = hashes[first], row[first]
    lo, hi = np.searchsorted(keys, hashes, "left"), np.searchsorted(keys, hashes, "right")
    hits = hi - lo
    sel = np.flatnonzero(hits)
    if not len(sel):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = hits[sel]
    src = np.repeat(sel, m)
    offset = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    pair_item = items[lo[src] + offset].astype(np.int64)
    pair = row[src].astype(np.int64) * (int(items.max()) + 1) + pair_item
    uniq, shared = np.unique(pair, return_counts=True)
    width = int(items.max()) + 1
    return uniq // width, uniq % width, shared


def find_contamination(
    texts: list[str | None], index: BenchmarkIndex, norm: NormalizeOptions = NormalizeOptions()
) -> list[Match | None]:
    """Per text: the contaminating item with the largest overlap share (ties: first item), or None."""
    best = np.full(len(texts), -1, np.int64)
    best_share = np.full(len(texts), -1.0)
    best_shared = np.zeros(len(texts), np.int64)
    tokens: dict[str, list[list[str]]] = {}
    for (channel, n), (keys, items) in index.groups.items():
        if not len(keys):
            continue
        if channel not in tokens:
            tokens[channel] = tokenize(texts, channel, norm)
        hashes, counts = ngram_hashes(tokens[channel], n)
        rows, item, shared = _shared_counts(hashes, counts, keys, items)
        hit = shared >= index.need[item]
        for r, it, s in zip(rows[hit], item[hit], shared[hit], strict=True):
            share = s / index.total[it]
            if share > best_share[r] or (share == best_share[r] and it < best[r]):
                best[r], best_share[r], best_shared[r] = it, share, s
    out: list[Match | None] = []
    for r, it in enumerate(best):
        if it < 0:
            out.append(None)
            continue
        b, i = index.items[it]
        out.append(Match(b, i, int(best_shared[r]), int(index.total[it]), int(index.ngram[it])))
    return out
