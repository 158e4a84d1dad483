"""Tokens and hashed word n-grams for decontamination (numpy, vectorised per batch).

Two tokenizations, applied identically to benchmark items and training rows:

* ``text``: :func:`include.normalize.normalize_text` (NFKC, case folding, punctuation
  and symbols to spaces, whitespace collapsed), split on spaces.
* ``code``: Python-style ``#`` comments removed, then identifiers (keywords and words of
  strings and docstrings included) and numbers, case kept; whitespace and punctuation
  never count, so re-indenting, re-wrapping, reformatting (black / autopep8 style: quotes,
  trailing commas, parentheses) or adding and removing comments does not hide a copy.
  Identifiers are **kept** as written: a canonicalised ``ID ID ID`` stream would make
  common idioms match every item, and with punctuation as tokens 13 tokens are too few
  (``[1, 2, 3, 4, 5, 6, 7]`` matched real Alpaca rows against HumanEval).

N-gram hashes are 64 bit (a 32-bit hash would give ~1 % of clean rows a chance hit
against ~250k benchmark n-grams).
"""

from __future__ import annotations

import hashlib
import re
from itertools import chain

import numpy as np

from include.normalize import NormalizeOptions, normalize_text

_COMMENT = re.compile(r"#[^\n]*")
_CODE_TOKEN = re.compile(r"[^\W\d]\w*|\d+(?:\.\d+)?")
_P64 = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: the polynomial base of the window hash
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))


def text_tokens(text: str | None, norm: NormalizeOptions = NormalizeOptions()) -> list[str]:
    normalized = normalize_text(text, norm)
    return normalized.split(" ") if normalized else []


def code_tokens(text: str | None) -> list[str]:
    if not text:
        return []
    return _CODE_TOKEN.findall(_COMMENT.sub(" ", text))


def tokenize(texts: list[str | None], channel: str, norm: NormalizeOptions) -> list[list[str]]:
    if channel == "code":
        return [code_tokens(t) for t in texts]
    return [text_tokens(t, norm) for t in texts]


def _fmix64(h: np.ndarray) -> np.ndarray:
    s, m1, m2 = _FMIX64
    h = h ^ (h >> s)
    h = h * m1
    h = h ^ (h >> s)
    h = h * m2
    return h ^ (h >> s)


def _token_hashes(flat: list[str]) -> np.ndarray:
    import pyarrow as pa

    enc = pa.array(flat, pa.string()).dictionary_encode()
    vocab = np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(w.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
            )
            for w in enc.dictionary.to_pylist()
        ),
        np.uint64,
        count=len(enc.dictionary),
    )
    return vocab[enc.indices.to_numpy(zero_copy_only=False)]


def ngram_hashes(
    token_lists: list[list[str]], n: int, skip_numeric: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hashes of every ``n``-token window of each list (in list order) and the
    window count per list; a list shorter than ``n`` has none. ``skip_numeric`` drops
    windows of numbers only (``1 2 3 ... 13`` is in every benchmark and many clean rows)."""
    lengths = np.fromiter(map(len, token_lists), np.int64, count=len(token_lists))
    total = int(lengths.sum())
    width = total - n + 1
    if width <= 0:
        return np.zeros(0, np.uint64), np.zeros(len(token_lists), np.int64)
    flat = list(chain.from_iterable(token_lists))
    h = _token_hashes(flat)
    acc = h[n - 1 : n - 1 + width].copy()
    with np.errstate(over="ignore"):
        for j in range(n - 2, -1, -1):  # Horner: h[i] + P*(h[i+1] + P*(... + P*h[i+n-1]))
            acc *= _P64
            acc += h[j : j + width]
        acc = _fmix64(acc)
    doc = np.repeat(np.arange(len(token_lists)), lengths)
    inside = doc[:width] == doc[n - 1 :]  # window starts and ends in the same list
    if skip_numeric:
        words = np.concatenate([[0], np.cumsum([not t.replace(".", "").isdigit() for t in flat])])
        inside &= (words[n:] - words[:width]) > 0
    return acc[inside], np.bincount(doc[:width][inside], minlength=len(token_lists)).astype(np.int64)
