"""Settings of the ``near_dedup`` stage (MinHash LSH)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.config.base import StageConfig, _Strict

#: survivor per duplicate cluster (near_dedup and semantic_dedup): longest text, highest
#: quality (then longest), or smallest id; ties by id
KeepRule = Literal["longest", "quality", "smallest_id"]


class DedupIndexConfig(_Strict):
    """Cross-night mode: also reject records duplicating one already published."""

    enabled: bool = Field(
        False,
        description="keep band keys, signatures and exact hashes of every published record in an index "
        "that publish extends after its commit; exact_dedup and near_dedup reject duplicates of them",
    )
    path: str | None = Field(
        None, description="index folder (local or s3://); null = <output_uri>/_dedup_index"
    )
    threshold: float | None = Field(
        None, gt=0.0, lt=1.0, description="MinHash-estimated Jaccard to a published record; null = threshold"
    )


class NearDedupConfig(StageConfig):
    """``near_dedup`` stage settings."""

    threshold: float = Field(
        0.8, gt=0.0, lt=1.0, description="Jaccard similarity above which two documents are near duplicates"
    )
    num_perm: int = Field(128, ge=2, le=1024, description="MinHash permutations (signature length)")
    seed: int = Field(
        1, description="permutation seed (same seed + hash = same signatures as datasketch.MinHash)"
    )
    ngram: int = Field(
        5, ge=1, le=64, description="shingle size: words per shingle (characters with char_ngrams)"
    )
    char_ngrams: bool = Field(
        False, description="character n-grams instead of word n-grams (for languages without spaces)"
    )
    hash_function: Literal["fast", "sha1"] = Field(
        "fast",
        description="fast = vectorised crc32 word-polynomial hash; sha1 = datasketch's default hash (slower)",
    )
    bands: int | None = Field(
        None,
        ge=1,
        description="override the LSH banding; null = chosen from threshold (datasketch's weighted FP/FN optimum)",
    )
    rows: int | None = Field(
        None, ge=1, description="rows per LSH band; null = chosen with bands for the threshold"
    )
    false_positive_weight: float = Field(
        0.02,
        ge=0.0,
        description="weights of the banding objective (datasketch's: 0.5 / 0.5). Candidates are verified with their exact shingle Jaccard, so a false positive costs only compute: the defaults favour recall, giving 17 bands x 7 rows at 0.8 (candidate probability 0.98 at Jaccard 0.8).",
    )
    false_negative_weight: float = Field(
        0.98, ge=0.0, description="verified, so favour recall: 17 bands x 7 rows at threshold 0.8"
    )
    verify: Literal["jaccard", "none"] = Field(
        "jaccard",
        description="check candidate pairs with the Jaccard of their (hashed) shingle sets before clustering",
    )
    keep: KeepRule = Field(
        "longest",
        description="survivor per cluster: longest text, highest quality (then longest), or smallest id",
    )
    max_bucket_size: int = Field(
        1000, ge=2, description="buckets with more members than this are logged with their size"
    )
    max_iterations: int = Field(60, ge=1, description="safety bound on connected-components rounds")
    index: DedupIndexConfig = Field(
        DedupIndexConfig(), description="cross-night: reject records duplicating an already published one"
    )

    @model_validator(mode="after")
    def _bands_fit(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self
