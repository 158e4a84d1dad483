"""MinHash signatures and LSH banding, vectorised with numpy (no Spark here).

Signatures follow datasketch 2.x's default ``affine32`` scheme bit for bit: the 32-bit
shingle hash is pre-mixed with the MurmurHash3 finalizer, then permutation ``k`` is
``a_k * h + b_k mod 2^32`` with ``(a, b)`` drawn from ``RandomState(seed)`` exactly as
``datasketch.MinHash`` draws them. So for the same seed and shingle hash function,
``signatures(...)`` equals ``datasketch.MinHash(hashfunc=...)`` fed the same shingles.

Two shingle hash functions:

* ``fast`` (default): word n-grams hashed as ``sum_j crc32(word_{i+j}) * P^j mod 2^32``;
  words are dictionary-encoded by pyarrow, only the vocabulary is hashed in Python and
  every shingle hash is a numpy expression. ``shingle_hash32`` is the same function on
  one shingle string, for datasketch.
* ``sha1``: datasketch's default ``sha1_hash32`` of the shingle string (a Python loop
  per shingle; for bit-compatibility with signatures made by datasketch defaults).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from include.normalize import NormalizeOptions, normalize_text

P32 = np.uint32(0x01000193)  # FNV prime: the polynomial base of the fast shingle hash
_M32 = 0xFFFFFFFF
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


@dataclass(frozen=True)
class MinHashParams:
    num_perm: int = 128
    seed: int = 1
    ngram: int = 5  # words per shingle (or characters, with char_ngrams)
    char_ngrams: bool = False
    hash_function: str = "fast"  # fast | sha1


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters for ``(num_perm, seed)``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def shingle_hash32(shingle: bytes | str) -> int:
    """The ``fast`` hash of one word shingle (words joined by single spaces)."""
    text = shingle.decode("utf-8") if isinstance(shingle, bytes) else shingle
    h, p = 0, 1
    for w in text.split(" "):
        h = (h + zlib.crc32(w.encode("utf-8")) * p) & _M32
        p = (p * int(P32)) & _M32
    return h


def char_shingle_hash32(shingle: bytes | str) -> int:
    """The ``fast`` hash of one character shingle."""
    text = shingle.decode("utf-8") if isinstance(shingle, bytes) else shingle
    h, p = 0, 1
    for ch in text:
        h = (h + ord(ch) * p) & _M32
        p = (p * int(P32)) & _M32
    return h


def sha1_hash32(data: bytes) -> int:
    return struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]


def shingles(normalized: str, params: MinHashParams) -> list[str]:
    """The shingle strings of one normalized text (reference path, used by tests and ``sha1``)."""
    n = params.ngram
    if params.char_ngrams:
        return [normalized[i : i + n] for i in range(max(len(normalized) - n + 1, 1))] if normalized else []
    words = normalized.split(" ") if normalized else []
    if not words:
        return []
    return [" ".join(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))]


def _powers(n: int) -> list[np.uint32]:
    out, p = [], 1
    for _ in range(n):
        out.append(np.uint32(p))
        p = (p * int(P32)) & _M32
    return out


def _rolling(values: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes ``sum_j v[s+j] * P^j`` for every window of every document.

    ``values`` are the per-token (or per-character) 32-bit hashes of all documents
    concatenated; ``lengths`` the token count per document. A document shorter than
    ``n`` has one shingle of its whole length; an empty one has none. Returns the
    shingle hashes (in document order) and the number of shingles per document.
    """
    lengths = lengths.astype(np.int64)
    counts = np.where(lengths >= n, lengths - n + 1, (lengths > 0).astype(np.int64))
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.uint32), counts
    powers = _powers(n)
    doc_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # every window of the concatenation by Horner's rule, in place (no temporaries):
    # acc = v[s] + P*(v[s+1] + P*(... + P*v[s+n-1]))
    size = len(values)
    padded = np.concatenate([values.astype(np.uint32, copy=False), np.zeros(n - 1, np.uint32)])
    acc = padded[n - 1 : n - 1 + size].copy()
    for j in range(n - 2, -1, -1):
        acc *= powers[1]
        acc += padded[j : j + size]
    # keep the first ``counts[d]`` windows of each document: drop positions
    # doc_start + counts .. doc_end - 1 (at most n - 1 per document)
    k = np.arange(n - 1)
    drop = (doc_start + counts)[:, None] + k[None, :]
    keep = np.ones(size, bool)
    keep[drop[k[None, :] < (lengths - counts)[:, None]]] = False
    h = acc[keep]
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):  # documents shorter than n: one shingle of their own length
        rows = first[short]
        sacc = np.zeros(len(short), np.uint32)
        for j in range(n - 1):
            inside = j < lengths[short]
            sacc += np.where(inside, padded[doc_start[short] + j] * powers[j], np.uint32(0))
        h[rows] = sacc
    return h, counts


def _fast_hashes(normalized: list[str], params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if params.char_ngrams:
        lengths = np.array([len(t) for t in normalized], np.int64)
        codes = np.frombuffer("".join(normalized).encode("utf-32-le"), dtype=np.uint32)
        return _rolling(codes, lengths, params.ngram)
    tokens = pc.split_pattern(pa.array(normalized, pa.string()), " ")
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = tokens.flatten()
    empty = np.array([t == "" for t in normalized])
    if empty.any():  # "" splits into [""]: an empty text has no tokens
        lengths[empty] = 0
        keep = np.repeat(~empty, pc.list_value_length(tokens).to_numpy(zero_copy_only=False))
        flat = flat.filter(pa.array(keep))
    enc = flat.dictionary_encode()
    vocab = np.fromiter(
        (zlib.crc32(w.encode("utf-8")) for w in enc.dictionary.to_pylist()),
        np.uint32,
        count=len(enc.dictionary),
    )
    word_hashes = vocab[enc.indices.to_numpy(zero_copy_only=False)] if len(vocab) else np.zeros(0, np.uint32)
    return _rolling(word_hashes, lengths, params.ngram)


def _sha1_hashes(normalized: list[str], params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    hashes, counts = [], []
    for text in normalized:
        sh = shingles(text, params)
        counts.append(len(sh))
        hashes.extend(sha1_hash32(s.encode("utf-8")) for s in sh)
    return np.array(hashes, np.uint32), np.array(counts, np.int64)


def shingle_hashes(
    texts: list[str | None], params: MinHashParams, norm: NormalizeOptions = NormalizeOptions()
) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes of ``texts`` (normalized first) and the shingle count per text."""
    normalized = [normalize_text(t, norm) for t in texts]
    if params.hash_function == "sha1":
        return _sha1_hashes(normalized, params)
    return _fast_hashes(normalized, params)


_BLOCK = 1 << 16  # shingles per block: one block's buffers stay in the CPU cache for all permutations


def signatures_from_hashes(hashes: np.ndarray, counts: np.ndarray, params: MinHashParams) -> np.ndarray:
    """``(n_docs, num_perm)`` uint32 signatures; documents without shingles get all-max rows.

    Shingles are cut into cache-sized blocks of whole documents; within a block, one pass
    per permutation (multiply, add, ``minimum.reduceat`` per document) over a contiguous
    vector that stays in cache.
    """
    a, b = permutations(params.num_perm, params.seed)
    sig = np.full((len(counts), params.num_perm), np.uint32(_M32), np.uint32)
    if len(hashes) == 0:
        return sig
    mixed = fmix32(hashes.astype(np.uint32, copy=False))
    has = np.flatnonzero(counts > 0)
    ends = np.cumsum(counts[has])
    starts = ends - counts[has]
    out = np.empty((params.num_perm, len(has)), np.uint32)  # permutation-major: contiguous writes
    buf = np.empty(_BLOCK + int(counts.max()), np.uint32)
    i = 0
    while i < len(has):
        j = max(int(np.searchsorted(ends, starts[i] + _BLOCK, side="right")), i + 1)
        lo, hi = int(starts[i]), int(ends[j - 1])
        seg, offsets, block = mixed[lo:hi], starts[i:j] - lo, buf[: hi - lo]
        for k in range(params.num_perm):
            np.multiply(seg, a[k], out=block)
            block += b[k]  # uint32: wraps mod 2^32 like datasketch
            np.minimum.reduceat(block, offsets, out=out[k, i:j])
        i = j
    sig[has] = out.T
    return sig


def signatures(
    texts: list[str | None],
    params: MinHashParams = MinHashParams(),
    norm: NormalizeOptions = NormalizeOptions(),
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of ``texts`` and the shingle count of each (0: no signature)."""
    hashes, counts = shingle_hashes(texts, params, norm)
    return signatures_from_hashes(hashes, counts, params), counts


# ------------------------------------------------------------------ LSH banding


def _fp_probability(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]


def _fn_probability(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)[0]


@lru_cache(maxsize=64)
def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """``(bands, rows)`` minimising the weighted false-positive / false-negative areas of
    the S-curve, searched exactly as datasketch's ``MinHashLSH`` does."""
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            err = _fp_probability(threshold, b, r) * fp_weight + _fn_probability(threshold, b, r) * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two documents of Jaccard ``similarity`` share at least one band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n_docs, bands)`` int64 keys: band ``i`` hashes signature columns ``i*rows:(i+1)*rows``."""
    n = sig.shape[0]
    keys = np.zeros((n, bands), np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    for i in range(bands):
        h = np.full(n, np.uint64(0xCBF29CE484222325), np.uint64)
        for k in range(rows):
            h = (h ^ sig[:, i * rows + k].astype(np.uint64)) * mult
            h ^= h >> np.uint64(29)
        keys[:, i] = h
    return keys.view(np.int64)
