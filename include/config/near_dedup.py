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

    #: Jaccard similarity above which two documents are near duplicates
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    #: MinHash permutations (signature length)
    num_perm: int = Field(128, ge=2, le=1024)
    #: permutation seed (same seed + hash = same signatures as datasketch.MinHash)
    seed: int = 1
    #: shingle size: words per shingle (characters with char_ngrams)
    ngram: int = Field(5, ge=1, le=64)
    #: character n-grams instead of word n-grams (for languages without spaces)
    char_ngrams: bool = False
    #: fast = vectorised crc32 word-polynomial hash; sha1 = datasketch's default hash (slower)
    hash_function: Literal["fast", "sha1"] = "fast"
    #: override the LSH banding; null = chosen from threshold (datasketch's weighted FP/FN optimum)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    #: weights of the banding objective (datasketch's: 0.5 / 0.5). Candidates are verified with
    #: their exact shingle Jaccard, so a false positive costs only compute: the defaults favour
    #: recall, giving 17 bands x 7 rows at 0.8 (candidate probability 0.98 at Jaccard 0.8).
    false_positive_weight: float = Field(0.02, ge=0.0)
    false_negative_weight: float = Field(0.98, ge=0.0)
    #: check candidate pairs with the Jaccard of their (hashed) shingle sets before clustering
    verify: Literal["jaccard", "none"] = "jaccard"
    #: survivor per cluster: longest text, highest quality (then longest), or smallest id
    keep: KeepRule = "longest"
    #: buckets with more members than this are logged with their size
    max_bucket_size: int = Field(1000, ge=2)
    #: safety bound on connected-components rounds
    max_iterations: int = Field(60, ge=1)
    index: DedupIndexConfig = DedupIndexConfig()

    @model_validator(mode="after")
    def _bands_fit(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self
