"""Settings of the ``decontaminate`` stage (n-gram overlap with evaluation benchmarks)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.config.base import StageConfig, _Strict, resolve_auto_enabled

#: known benchmark layouts: text fields, item id field (null = 0-based record number), code or prose
PRESETS: dict[str, dict] = {
    "gsm8k": {"fields": ["question", "answer"], "id_field": None, "code": False},
    "humaneval": {"fields": ["prompt", "canonical_solution", "test"], "id_field": "task_id", "code": True},
    "mbpp": {"fields": ["text", "code", "test_list"], "id_field": "task_id", "code": True},
    "mmlu": {"fields": ["question", "choices"], "id_field": None, "code": False},
}


BENCHMARK_EXTENSIONS = (".jsonl", ".jsonl.gz", ".json.gz", ".parquet")


class BenchmarkSpec(_Strict):
    """One evaluation set the training data must not contain."""

    name: str = Field(min_length=1, description="benchmark name (rejects' detail, stats, lineage)")
    uri: str = Field(
        min_length=1, description="local path or s3:// URI of a .jsonl, .jsonl.gz or .parquet file"
    )
    preset: Literal["gsm8k", "humaneval", "mbpp", "mmlu"] | None = Field(
        None,
        description="known layout: gsm8k {question, answer}; humaneval {prompt, canonical_solution, test}",
    )
    fields: list[str] = Field([], description="text fields of each item (overrides the preset's)")
    id_field: str | None = Field(
        None, description="item id field; null = the preset's, else the record number"
    )
    code: bool | None = Field(
        None, description="compare code tokens (comments/whitespace ignored); null = preset"
    )

    @model_validator(mode="after")
    def _has_fields(self):
        if not self.fields and self.preset is None:
            raise ValueError(f"benchmark {self.name!r}: set a preset or the fields holding its text")
        if not self.uri.lower().endswith(BENCHMARK_EXTENSIONS):
            raise ValueError(
                f"benchmark {self.name!r}: uri must end with one of {', '.join(BENCHMARK_EXTENSIONS)}"
            )
        return self

    def layout(self) -> tuple[list[str], str | None, bool]:
        """(text fields, id field, code?) after applying the preset."""
        p = PRESETS.get(self.preset or "", {"fields": [], "id_field": None, "code": False})
        return (
            list(self.fields or p["fields"]),
            self.id_field or p["id_field"],
            p["code"] if self.code is None else self.code,
        )


class DecontaminateConfig(StageConfig):
    """``decontaminate`` stage settings. Rule: an item whose longest field has >= ``ngram``
    tokens is *long* and contaminates a row sharing >= ``min_overlap`` of its ``ngram``-grams;
    a shorter item is *short*: it is compared on ``short_ngram``-grams and contaminates a row
    sharing >= ``short_min_overlap`` of them; an item under ``short_ngram`` tokens is skipped."""

    enabled: bool = Field(False, description="auto / unset (the default) = on when benchmarks are listed")
    benchmarks: list[BenchmarkSpec] = Field([], description="evaluation sets; none = the stage passes rows")
    ngram: int = Field(13, ge=3, le=64, description="words (code tokens) per n-gram, as GPT-3 / datatrove")
    min_overlap: float = Field(
        1, gt=0, description="long items: >= 1 = that many shared n-grams; < 1 = that share of the item's"
    )
    short_ngram: int = Field(5, ge=2, le=64, description="n-gram size of short items")
    short_min_overlap: float = Field(0.5, gt=0, le=1, description="share of a short item's n-grams to match")
    max_item_frequency: int = Field(
        10, ge=1, description="n-grams in more items than this are boilerplate (headers, idioms): ignored"
    )

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data):
        return resolve_auto_enabled(data, isinstance(data, dict) and bool(data.get("benchmarks")))

    @model_validator(mode="after")
    def _unique(self):
        names = [b.name for b in self.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names must be unique, got {names}")
        if self.short_ngram >= self.ngram:
            raise ValueError(f"short_ngram ({self.short_ngram}) must be smaller than ngram ({self.ngram})")
        return self
