"""Nightly semantic dedup against everything already published, in a vector database.

``semantic_dedup`` (with ``index.enabled``) queries each surviving record's embedding
(top hit, cosine >= threshold) against the collection of published records and rejects
matches as ``semantic_duplicate`` with ``dup_of`` = the published id. It also writes the
embeddings of its survivors next to its output; ``publish`` copies them into the version
(``versions/<id>/embeddings/``) and, **after the version is committed**, upserts those of
the rows that were actually published (later stages may still drop rows). So the index
holds exactly the published records, a failed run adds nothing, and an upsert that
failed is redone by the publish retry (point ids derive from record ids: idempotent).

Backends implement :class:`VectorIndex` (``query`` + ``upsert`` + ``count``); Qdrant is
built in: embedded (``QdrantClient(path=...)``, one process at a time: queried from the
Spark driver in batches) or a server (``url``: queried from the executors in parallel).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from include import storage

log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("5b0e8a52-8d8e-4f0e-9a47-6c1d3e2f7a10")
INDEX_DIR = "_semantic_index"
EMBEDDINGS_DIR = "embeddings"


class VectorIndex(Protocol):
    """What nightly semantic dedup needs from a vector database."""

    def query(
        self, ids: list[str], vectors: np.ndarray, threshold: float
    ) -> list[tuple[str, str, float, str | None]]:
        """(id, published id, cosine, published version) of the best match >= threshold, other ids skipped."""

    def upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[dict]) -> None: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def point_id(record_id: str) -> str:
    """Stable point id of a record (Qdrant ids are UUIDs or integers)."""
    return str(uuid.uuid5(_NAMESPACE, record_id))


def default_index_path(output_uri: str) -> str:
    return storage.join(output_uri, INDEX_DIR)


def output_root(stage_output_uri: str) -> str:
    """``<output_uri>`` of a stage folder ``<output_uri>/_staging/<run_id>/<stage>`` (the run
    layout of include/run.py); for a standalone stage job, the folder above ``--output``."""
    parts = stage_output_uri.rstrip("/").rsplit("/", 3)
    if len(parts) == 4 and parts[1] == "_staging":
        return parts[0]
    return stage_output_uri.rstrip("/").rsplit("/", 1)[0]


class QdrantIndex:
    """A Qdrant collection of published records (cosine distance, payload ``{id, version}``)."""

    def __init__(
        self, *, url: str | None, path: str | None, collection: str, dim: int, api_key: str | None = None
    ):
        from qdrant_client import QdrantClient, models

        self.models = models
        if url:
            self.client = QdrantClient(url=url, api_key=api_key)
        else:
            if path is None or not storage.is_local(path):
                raise ValueError(
                    f"embedded Qdrant needs a local folder, got {path!r}: set semantic_dedup.index.path "
                    "to a local folder or semantic_dedup.index.url to a Qdrant server"
                )
            local = storage.local_path(path)
            os.makedirs(local, exist_ok=True)
            self.client = QdrantClient(path=local)
        self.collection, self.dim = collection, dim
        if self.client.collection_exists(collection):
            size = self.client.get_collection(collection).config.params.vectors.size
            if size != dim:
                self.client.close()
                raise ValueError(
                    f"Qdrant collection {collection!r} holds {size}-d vectors but the model makes {dim}-d "
                    "ones: use another collection (semantic_dedup.index.collection) for a new model"
                )
        else:
            self.client.create_collection(
                collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )

    def query(self, ids, vectors, threshold):
        if not len(ids):
            return []
        requests = [
            self.models.QueryRequest(query=v.tolist(), limit=2, with_payload=True, score_threshold=threshold)
            for v in vectors
        ]
        out = []
        for rid, res in zip(
            ids, self.client.query_batch_points(self.collection, requests=requests), strict=True
        ):
            for p in res.points:  # the record itself (a rerun of a published record) is no duplicate
                if p.payload.get("id") != rid:
                    out.append((rid, p.payload["id"], float(p.score), p.payload.get("version")))
                    break
        return out

    def upsert(self, ids, vectors, payloads):
        points = [
            self.models.PointStruct(id=point_id(rid), vector=v.tolist(), payload=pl)
            for rid, v, pl in zip(ids, vectors, payloads, strict=True)
        ]
        if points:
            self.client.upsert(self.collection, points=points, wait=True)

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self.client.close()


def open_index(index_cfg, dim: int, output_uri: str) -> VectorIndex:
    """The configured index (``index_cfg``: SemanticIndexConfig) for a dataset at ``output_uri``."""
    if index_cfg.backend != "qdrant":  # pragma: no cover - the config only allows qdrant today
        raise ValueError(f"unknown vector index backend {index_cfg.backend!r}")
    api_key = os.environ.get(index_cfg.api_key_env) if index_cfg.api_key_env else None
    return QdrantIndex(
        url=index_cfg.url,
        path=None if index_cfg.url else (index_cfg.path or default_index_path(output_uri)),
        collection=index_cfg.collection,
        dim=dim,
        api_key=api_key,
    )


def batches(ids: list[str], vectors: np.ndarray, size: int) -> Iterator[tuple[list[str], np.ndarray]]:
    for lo in range(0, len(ids), size):
        yield ids[lo : lo + size], vectors[lo : lo + size]


def index_published(cfg, output_uri: str, version: str) -> dict:
    """Upsert the embeddings of version ``version``'s curated rows into the index (idempotent).

    Called by publish after the commit; returns counts for the log / manifest."""
    import pyarrow.parquet as pq

    sd = cfg.semantic_dedup
    ep = cfg.storage.s3_endpoint_url
    vdir = storage.join(output_uri, "versions", version)
    emb_uri = storage.join(vdir, EMBEDDINGS_DIR)
    files = [f for f in storage.list_files(emb_uri, (".parquet",), ep)] if storage.exists(emb_uri, ep) else []
    if not files:
        return {"upserted": 0, "note": "no embeddings in this version"}
    curated = set()
    for f in storage.list_files(storage.join(vdir, "curated"), (".parquet",), ep):
        fs, path = storage.filesystem(f.uri, ep)
        with fs.open_input_file(path) as fh:
            curated.update(pq.read_table(fh, columns=["id"]).column("id").to_pylist())
    index, n = None, 0
    try:
        for f in files:
            fs, path = storage.filesystem(f.uri, ep)
            with fs.open_input_file(path) as fh:
                table = pq.read_table(fh, columns=["id", "embedding"])
            if not table.num_rows:
                continue
            ids = table.column("id").to_pylist()
            vecs = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
            mask = np.array([i in curated for i in ids])
            ids, vecs = [i for i, m in zip(ids, mask, strict=True) if m], vecs[mask]
            if index is None:
                index = open_index(sd.index, vecs.shape[1], output_uri)
            for bid, bvec in batches(ids, vecs, sd.index.batch_size):
                index.upsert(bid, bvec, [{"id": i, "version": version} for i in bid])
                n += len(bid)
        total = index.count() if index is not None else None
    finally:
        if index is not None:
            index.close()
    log.info(
        "semantic index: upserted %d published records of %s (collection now %s points)", n, version, total
    )
    return {"upserted": n, "collection": sd.index.collection, "points": total}
