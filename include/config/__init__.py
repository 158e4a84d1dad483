"""Typed pipeline configuration: defaults in ``default.yaml``, overrides deep-merged.

``load_config(overrides)`` validates everything up front and raises
:class:`ConfigError` naming the bad key (``ingest.oasst_paths: Input should be …``)
before any work starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from include.config.base import StageConfig, _Strict, format_errors
from include.config.decontaminate import DecontaminateConfig
from include.config.filters import FiltersConfig
from include.config.lakehouse import LakehouseConfig
from include.config.near_dedup import NearDedupConfig
from include.config.pii import PiiConfig
from include.config.quality import QualityConfig
from include.config.semantic_dedup import SemanticDedupConfig
from include.config.validate import MAX_TEXT_CHARS, ValidateConfig
from include.formats.reader import MAX_JSON_DEPTH

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")

STAGES = (
    "ingest",
    "normalize",
    "exact_dedup",
    "decontaminate",
    "near_dedup",
    "pii",
    "filters",
    "semantic_dedup",
    "quality",
    "validate",
    "publish",
)

#: environment variable that sets ``spark.conn_id``'s default (docker-compose sets it to its cluster)
SPARK_CONN_ENV = "LLMOPS_SPARK_CONN_ID"


class ConfigError(ValueError):
    """Invalid configuration; the message names every bad key."""


class SparkConfig(_Strict):
    master: str = Field("local[*]", description="used when no Airflow Spark connection is configured")
    conn_id: str | None = Field(
        None,
        validate_default=True,
        description=f"Airflow Spark connection id -> stages run via spark-submit; null = ${SPARK_CONN_ENV} (unset: local mode)",
    )
    driver_memory: str = Field("2g", description="driver memory (spark.driver.memory)")
    shuffle_partitions: int = Field(
        8, ge=1, description="spark.sql.shuffle.partitions for the stages' joins and aggregations"
    )
    conf: dict[str, str | int | float | bool] = Field(
        {}, description='extra Spark conf, e.g. {"spark.executor.memory": "8g"}'
    )
    in_process: bool = Field(
        True,
        description="local mode: run each stage inside its Airflow task process, reusing that process's Spark session (`airflow dags test` / make demo: one session for the whole run); false = one `python -m spark_jobs.<stage>` subprocess per stage. Stages that need a secret always use a subprocess",
    )

    @field_validator("conn_id", mode="after")
    @classmethod
    def _conn_from_env(cls, value: str | None) -> str | None:
        return value or os.environ.get(SPARK_CONN_ENV) or None


class StorageConfig(_Strict):
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, moto); else $AWS_ENDPOINT_URL"
    )
    native_spark_io: bool = Field(
        False, description="true: read/write s3a:// with Spark's own connector (needs hadoop-aws jars)"
    )


class IngestConfig(_Strict):
    enabled: Literal[True] = Field(True, description="always on: ingest makes the canonical rows")
    format: str = Field("auto", description="auto = detect per file; or one adapter name for every file")
    formats: dict[str, str] = Field(
        {}, description='per-file overrides: {"glob relative to source": "adapter name"}'
    )
    source_name: str | None = Field(
        None, description="`source` column; default: last path component of source_uri"
    )
    detect_sample: int = Field(50, ge=1, description="parsed records per file used to detect its format")
    extensions: list[str] = Field(
        [".json", ".jsonl", ".jsonl.gz", ".json.gz", ".parquet"],
        description="file suffixes read from a folder or glob",
    )
    oasst_paths: Literal["all", "best"] = Field(
        "all", description="all = every root-to-leaf conversation; best = best-ranked path only"
    )
    oasst_skip_review_failed: bool = Field(True, description="OASST: drop messages whose review failed")
    preference_pairs: Literal["best_vs_rest", "all_ordered"] = Field(
        "best_vs_rest", description="ranked responses: best_vs_rest | all_ordered"
    )
    max_raw_chars: int = Field(4000, ge=0, description="how much of a rejected record is kept in rejects.raw")
    max_text_chars: int | None = Field(
        MAX_TEXT_CHARS,
        ge=1,
        description="a row whose flattened text is longer is rejected as too_long (null: no limit); "
        "keep it <= validate.max_text_chars or the gate fails the run instead",
    )
    max_json_depth: int = Field(
        MAX_JSON_DEPTH, ge=2, le=900, description="deeper-nested source records are rejected as invalid_json"
    )
    require_user_turn: bool = Field(
        True,
        description="reject conversations without a user message (no_user_turn); false keeps them and "
        "the quality filter flags them no_user_turn",
    )


class NormalizeConfig(StageConfig):
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] = Field("NFKC", description="NFC | NFKC | NFD | NFKD")
    lowercase: bool = Field(True, description="case-fold the fingerprint text")
    strip_punctuation: bool = Field(
        True, description="punctuation and symbols (Unicode P* and S*) become spaces"
    )
    collapse_whitespace: bool = Field(True, description="runs of whitespace become one space")


class ExactDedupConfig(StageConfig):
    keep: Literal["first", "longest"] = Field(
        "first", description="first = earliest (source_file, line, id); longest = longest text"
    )


class PipelineConfig(_Strict):
    spark: SparkConfig = Field(
        SparkConfig(),
        description="Spark session settings (local mode or a cluster via an Airflow connection)",
    )
    storage: StorageConfig = Field(StorageConfig(), description="how stages reach S3-compatible storage")
    lakehouse: LakehouseConfig = Field(
        LakehouseConfig(), description="Delta / Iceberg tables as input and as output registration"
    )
    ingest: IngestConfig = Field(
        IngestConfig(), description="format detection and conversion to the canonical record"
    )
    normalize: NormalizeConfig = Field(
        NormalizeConfig(), description="fingerprint normalization (the original text is kept)"
    )
    exact_dedup: ExactDedupConfig = Field(
        ExactDedupConfig(), description="exact duplicates by normalized-text hash"
    )
    decontaminate: DecontaminateConfig = Field(
        DecontaminateConfig(),
        description='n-gram overlap with evaluation benchmarks (README "Benchmark decontamination")',
    )
    near_dedup: NearDedupConfig = Field(NearDedupConfig(), description="MinHash LSH near-duplicate removal")
    pii: PiiConfig = Field(PiiConfig(), description="Presidio PII detection and anonymization")
    filters: FiltersConfig = Field(
        FiltersConfig(),
        description="content filters: domain rules, malicious content, profanity, heuristic quality",
    )
    semantic_dedup: SemanticDedupConfig = Field(
        SemanticDedupConfig(),
        description="embeddings + cosine pairs (SemDeDup-style); off by default: needs a model",
    )
    quality: QualityConfig = Field(
        QualityConfig(), description="LLM-as-judge and classifier scoring; both off = skipped"
    )
    validate_: ValidateConfig = Field(
        ValidateConfig(), alias="validate", description="the Great Expectations gate (key `validate`)"
    )
    publish: StageConfig = Field(StageConfig(), description="versioned publish and the Asset event")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    def stage(self, name: str) -> StageConfig | IngestConfig:
        if name not in STAGES:
            raise KeyError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
        return getattr(self, "validate_" if name == "validate" else name)

    def enabled(self, name: str) -> bool:
        return bool(self.stage(name).enabled)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    def digest(self) -> str:
        """Hash of the effective config (stable key order)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base`` (dicts merge, others replace)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_overrides(overrides: dict | str | Path | None) -> dict:
    """Overrides as a dict, a JSON/YAML string, or a path to a YAML/JSON file."""
    if overrides is None or overrides == "":
        return {}
    if isinstance(overrides, dict):
        return overrides
    text = str(overrides)
    path = Path(text)
    if "\n" not in text and len(text) < 4096 and path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config is not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a mapping of stage -> settings, got {type(data).__name__}")
    return data


def load_config(overrides: dict | str | Path | None = None) -> PipelineConfig:
    """Defaults deep-merged with ``overrides``, validated; raises ConfigError."""
    base = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    merged = deep_merge(base, parse_overrides(overrides))
    try:  # JSON mode: strict types (no "0.5" for a float, no "yes"/1 for a bool), keys as text
        cfg = PipelineConfig.model_validate_json(json.dumps(merged, default=str))
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, "pipeline", {"validate_": "validate"})) from None
    if cfg.ingest.format != "auto" or cfg.ingest.formats:
        from include.formats import ADAPTERS

        for where, name in [("ingest.format", cfg.ingest.format)] + [
            (f"ingest.formats.{k}", v) for k, v in cfg.ingest.formats.items()
        ]:
            if name != "auto" and name not in ADAPTERS:
                raise ConfigError(
                    f"invalid pipeline config:\n  {where}: unknown format {name!r}; "
                    f"known: auto, {', '.join(sorted(ADAPTERS))}"
                )
    return cfg
